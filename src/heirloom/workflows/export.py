"""ExportWorkflow: build one ZIP of a user's data, keep it downloadable for a day, remove it."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from heirloom.activities.export import ExportActivities
    from heirloom.domain.messages import ExportInput, ExportStatus
    from heirloom.workflows.retry import EXPORT_RETRY


def export_workflow_id(user_id: str, export_id: str) -> str:
    return f"export-{user_id}-{export_id}"


@workflow.defn
class ExportWorkflow:
    """Build, then wait out the link's validity on a durable timer, then remove the ZIP."""

    def __init__(self) -> None:
        self._status = ExportStatus(state=ExportStatus.BUILDING)

    @workflow.run
    async def run(self, request: ExportInput) -> ExportStatus:
        key = await workflow.execute_activity_method(
            ExportActivities.build_export,
            request,
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=EXPORT_RETRY,
        )
        expires_at = workflow.now() + timedelta(seconds=request.valid_s)
        self._status = ExportStatus(
            state=ExportStatus.READY, key=key, expires_at=expires_at.timestamp()
        )
        await workflow.sleep(timedelta(seconds=request.valid_s))
        await workflow.execute_activity_method(
            ExportActivities.remove_export,
            request,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=EXPORT_RETRY,
        )
        self._status = ExportStatus(state=ExportStatus.EXPIRED)
        return self._status

    @workflow.query
    def status(self) -> ExportStatus:
        return self._status
