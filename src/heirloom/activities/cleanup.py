"""Retention cleanup activities: delete the files of jobs whose retention ended."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity

from heirloom.domain.messages import ExpireRequest
from heirloom.services.context import Services


class CleanupActivities:
    """Over the services; registered on the operations queue."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @activity.defn
    def expire_due(self, request: ExpireRequest) -> int:
        """Expire one batch of due jobs; returns how many it handled."""
        now = datetime.fromtimestamp(request.now, UTC)
        return self.services.retention.expire_due(now, request.limit)
