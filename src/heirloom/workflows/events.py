"""EventsPruneWorkflow: keep the job change feed to its retention. Runs on a Schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from heirloom.activities.events import EventActivities
    from heirloom.domain.messages import PruneEventsInput, PruneEventsRequest

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)


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
                retry_policy=_RETRY,
            )
            pruned += deleted
            if deleted < request.batch:
                return pruned
