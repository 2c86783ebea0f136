"""Queue-metrics activity: take one snapshot of the GPU queue and prune old ones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client

from heirloom.domain.queue_metrics import SnapshotReport, SnapshotRequest
from heirloom.services.context import Services
from heirloom.services.queue.snapshots import QueueMetrics, take_snapshot
from heirloom.temporal.task_queues import TemporalTaskQueues


class QueueMetricsActivities:
    """Over the services and a Temporal client; registered on the operations queue."""

    def __init__(self, services: Services, client: Client) -> None:
        self.metrics = QueueMetrics(services.db)
        self.services = services
        self.task_queues = TemporalTaskQueues(client)

    @activity.defn
    async def record_queue_metrics(self, request: SnapshotRequest) -> SnapshotReport:
        """Write the snapshot taken at the request's time; delete those past the retention."""
        taken_at = datetime.fromtimestamp(request.taken_at, UTC)
        rows = await take_snapshot(self.services, self.task_queues, taken_at)
        written = await asyncio.to_thread(self.metrics.record, rows)
        cutoff = taken_at - timedelta(days=request.retention_days)
        pruned = await asyncio.to_thread(self.metrics.prune, cutoff)
        return SnapshotReport(rows=written, pruned=pruned)
