"""CleanupWorkflow: delete the files of jobs whose retention ended. Runs on a Schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from heirloom.activities.cleanup import CleanupActivities
    from heirloom.domain.messages import CleanupInput, CleanupReport, ExpireRequest
    from heirloom.workflows.retry import OPS_RETRY

_STEP_TIMEOUT = timedelta(minutes=5)


@workflow.defn
class CleanupWorkflow:
    """Expire due jobs a batch at a time until none is left; idempotent and resumable."""

    @workflow.run
    async def run(self, request: CleanupInput) -> CleanupReport:
        now = request.now if request.now is not None else workflow.now().timestamp()
        expired = 0
        while True:
            done = await workflow.execute_activity_method(
                CleanupActivities.expire_due,
                ExpireRequest(now=now, limit=request.batch),
                start_to_close_timeout=_STEP_TIMEOUT,
                retry_policy=OPS_RETRY,
            )
            expired += done
            workflow.set_current_details(f"expired {expired} jobs due by {now:.0f}")
            if done < request.batch:
                return CleanupReport(expired=expired)
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(CleanupInput(batch=request.batch, now=now))
