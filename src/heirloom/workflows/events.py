"""EventsPruneWorkflow: keep the job change feed to its retention. Runs on a Schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from heirloom.activities.events import EventActivities
    from heirloom.domain.messages import PruneEventsInput, PruneEventsRequest
    from heirloom.workflows.retry import OPS_RETRY


@workflow.defn
class EventsPruneWorkflow:
    """Delete events older than the retention, a batch at a time; idempotent."""

    @workflow.run
    async def run(self, request: PruneEventsInput) -> int:
        cutoff = workflow.now() - timedelta(days=request.retention_days)
        pruned = 0
        while True:
            deleted = await workflow.execute_activity_method(
                EventActivities.prune_events,
                PruneEventsRequest(cutoff=cutoff.timestamp(), batch=request.batch),
                start_to_close_timeout=timedelta(seconds=120),
                retry_policy=OPS_RETRY,
            )
            pruned += deleted
            if deleted < request.batch:
                return pruned
