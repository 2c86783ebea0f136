"""ReconcileWorkflow: settle every job left charged without a live run. Runs on a Schedule,
a pass every reconcile interval within each run (workflows/periodic.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from heirloom.activities.reconcile import ReconcileActivities
    from heirloom.domain.messages import (
        ReconcileInput,
        ReconcileReport,
        SettleRequest,
        StrandedQuery,
    )
    from heirloom.workflows.periodic import repeat
    from heirloom.workflows.retry import OPS_RETRY

_STEP_TIMEOUT = timedelta(seconds=60)
# Said in the job's operator-side record, so an operator can tell who ended it and why.
SETTLE_DETAIL = "settled by reconciliation: the job's workflow run was closed or never started"


@workflow.defn
class ReconcileWorkflow:
    """Passes over unfinished jobs unchanged for the grace period, at the input's pace (default:
    one); idempotent. The result is the last pass's."""

    @workflow.run
    async def run(self, request: ReconcileInput) -> ReconcileReport:
        return await repeat(request.pace, lambda: self.one_pass(request))

    async def one_pass(self, request: ReconcileInput) -> ReconcileReport:
        cutoff = workflow.now() - timedelta(seconds=request.grace_s)
        after_id = ""
        checked = 0
        settled: list[str] = []
        while True:
            page = await workflow.execute_activity_method(
                ReconcileActivities.find_stranded,
                StrandedQuery(cutoff.timestamp(), after_id, request.batch),
                start_to_close_timeout=_STEP_TIMEOUT,
                retry_policy=OPS_RETRY,
            )
            checked += page.checked
            for job_id in page.stranded:
                await workflow.execute_activity_method(
                    ReconcileActivities.settle_job,
                    SettleRequest(job_id, SETTLE_DETAIL),
                    start_to_close_timeout=_STEP_TIMEOUT,
                    retry_policy=OPS_RETRY,
                )
                settled.append(job_id)
            workflow.set_current_details(
                f"checked {checked} unfinished jobs, settled {len(settled)}"
                + (f": {', '.join(settled)}" if settled else "")
            )
            if page.next_after is None:
                return ReconcileReport(checked=checked, settled=settled)
            after_id = page.next_after
