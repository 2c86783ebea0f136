"""ErasureWorkflow: close an account and erase what it owns, durably, whatever restarts."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from heirloom.activities.erasure import ErasureActivities
    from heirloom.domain.messages import ErasureInput, ErasureReport
    from heirloom.workflows.retry import UNTIL_DONE_RETRY

_STEP_TIMEOUT = timedelta(minutes=10)


def erasure_workflow_id(user_id: str) -> str:
    return f"erase-{user_id}"


def _heartbeat_timeout(request: ErasureInput) -> timedelta | None:
    """For the steps that loop (and heartbeat): a killed worker's step runs again this soon."""
    if request.heartbeat_timeout_s is None:
        return None
    return timedelta(seconds=request.heartbeat_timeout_s)


@workflow.defn
class ErasureWorkflow:
    """Lock the account, stop its jobs, delete files and histories, anonymise its records."""

    @workflow.run
    async def run(self, request: ErasureInput) -> ErasureReport:
        workflow.set_current_details(f"erasing user {request.user_id}")
        await workflow.execute_activity_method(
            ErasureActivities.close_account,
            request,
            start_to_close_timeout=_STEP_TIMEOUT,
            retry_policy=UNTIL_DONE_RETRY,
        )
        await workflow.execute_activity_method(
            ErasureActivities.stop_jobs,
            request,
            start_to_close_timeout=_STEP_TIMEOUT,
            heartbeat_timeout=_heartbeat_timeout(request),
            retry_policy=UNTIL_DONE_RETRY,
        )
        files = await workflow.execute_activity_method(
            ErasureActivities.delete_files,
            request,
            start_to_close_timeout=_STEP_TIMEOUT,
            heartbeat_timeout=_heartbeat_timeout(request),
            retry_policy=UNTIL_DONE_RETRY,
        )
        histories = await workflow.execute_activity_method(
            ErasureActivities.delete_histories,
            request,
            start_to_close_timeout=_STEP_TIMEOUT,
            heartbeat_timeout=_heartbeat_timeout(request),
            retry_policy=UNTIL_DONE_RETRY,
        )
        # Last: the job rows name the histories to delete if a step above is repeated.
        await workflow.execute_activity_method(
            ErasureActivities.anonymise_records,
            request,
            start_to_close_timeout=_STEP_TIMEOUT,
            retry_policy=UNTIL_DONE_RETRY,
        )
        return ErasureReport(files_deleted=files, histories_deleted=histories)
