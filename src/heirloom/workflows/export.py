"""ExportWorkflow: build one ZIP of a user's data, keep it downloadable for a day, remove it.

Its state is the `data_exports` row the activities write (services/privacy/export.py); the
API reads that row, never this workflow.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from heirloom.activities.export import ExportActivities
    from heirloom.domain.messages import ExportInput
    from heirloom.workflows.retry import EXPORT_RETRY


def export_workflow_id(user_id: str, export_id: str) -> str:
    return f"export-{user_id}-{export_id}"


@workflow.defn
class ExportWorkflow:
    """Build (or record the failure), then wait out the link's validity on a durable timer,
    then remove the ZIP."""

    @workflow.run
    async def run(self, request: ExportInput) -> bool:
        try:
            built = await workflow.execute_activity_method(
                ExportActivities.build_export,
                request,
                start_to_close_timeout=timedelta(minutes=30),
                retry_policy=EXPORT_RETRY,
            )
        except ActivityError:
            await workflow.execute_activity_method(
                ExportActivities.fail_export,
                request,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=EXPORT_RETRY,
            )
            return False
        if not built.kept:
            return False  # the account's erasure began: nothing was kept
        await workflow.sleep(timedelta(seconds=request.valid_s))
        await workflow.execute_activity_method(
            ExportActivities.remove_export,
            request,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=EXPORT_RETRY,
        )
        return True
