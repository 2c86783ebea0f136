"""QueueMetricsWorkflow: record a snapshot of the GPU queue and prune old ones. On a Schedule,
a snapshot every queue-metrics interval within each run (workflows/periodic.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from heirloom.activities.queue_metrics import QueueMetricsActivities
    from heirloom.domain.queue_metrics import QueueMetricsInput, SnapshotReport, SnapshotRequest
    from heirloom.workflows.periodic import repeat
    from heirloom.workflows.retry import TICK_RETRY


@workflow.defn
class QueueMetricsWorkflow:
    """Snapshots at the input's pace (default: one), each at the workflow's time of its pass, so
    a retried activity writes the same one. The result is the last snapshot's."""

    @workflow.run
    async def run(self, request: QueueMetricsInput) -> SnapshotReport:
        return await repeat(request.pace, lambda: self.one_pass(request))

    async def one_pass(self, request: QueueMetricsInput) -> SnapshotReport:
        report = await workflow.execute_activity_method(
            QueueMetricsActivities.record_queue_metrics,
            SnapshotRequest(
                taken_at=workflow.now().timestamp(), retention_days=request.retention_days
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=TICK_RETRY,
        )
        workflow.set_current_details(f"{report.rows} rows recorded, {report.pruned} pruned")
        return report
