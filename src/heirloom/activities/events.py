"""Change-feed upkeep: prune job events past their retention."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity

from heirloom.domain.messages import PruneEventsRequest
from heirloom.services.context import Services


class EventActivities:
    """Over the services; registered on the operations queue."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @activity.defn
    def prune_events(self, request: PruneEventsRequest) -> int:
        """Delete one batch of events older than the cutoff; how many went."""
        cutoff = datetime.fromtimestamp(request.cutoff, UTC)
        return self.services.events.prune(cutoff, batch=request.batch)
