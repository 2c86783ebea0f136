"""Alert activities: evaluate the rules into notices, and deliver one notice."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.client import Client

from heirloom.domain.alerts import AlertNotice, AlertsInput, AlertsReport, evaluate
from heirloom.services.context import Services
from heirloom.services.ops.alerts import FIRING, AlertBook, deliver, gather_snapshot, limits_from
from heirloom.temporal.task_queues import TemporalTaskQueues

log = logging.getLogger(__name__)


class AlertActivities:
    """Over the services and a Temporal client; registered on the operations queue."""

    def __init__(self, services: Services, client: Client) -> None:
        self.services = services
        self.task_queues = TemporalTaskQueues(client)
        self.book = AlertBook(services.db)
        # RunPod's queue depth at the previous evaluation in this process: "growing" compares
        # against it (a restarted worker needs one more evaluation to see growth).
        self._previous_in_queue: int | None = None

    @activity.defn
    async def evaluate_alerts(self, request: AlertsInput) -> AlertsReport:
        """Run every rule; open and resolve incidents; return what changed."""
        snapshot = await gather_snapshot(
            self.services, self.task_queues, self._previous_in_queue, request.window_s
        )
        if snapshot.runpod.reachable:
            self._previous_in_queue = snapshot.runpod.in_queue
        limits = replace(limits_from(self.services), window_s=request.window_s)
        findings = evaluate(snapshot, limits)
        try:
            notices = await asyncio.to_thread(self.book.apply, findings)
        except SQLAlchemyError:
            # The alerts table is out of reach too: say so without dedup rather than not at all.
            log.warning("alerts: cannot record incidents", exc_info=True)
            notices = [AlertNotice(0, f.key, f.severity, f.message, FIRING) for f in findings]
        return AlertsReport(findings=len(findings), notices=notices)

    @activity.defn
    def deliver_alert(self, notice: AlertNotice) -> None:
        """Log it and post it to the webhook; a failed post is retried by the workflow."""
        deliver(notice, self.services.settings.alerts_webhook_url)
