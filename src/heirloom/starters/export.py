"""Starting a user's data export and reading where it stands."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from heirloom.domain.errors import NotFound
from heirloom.domain.messages import ExportInput, ExportStatus
from heirloom.domain.task_queues import OPS_TASK_QUEUE
from heirloom.temporal import search_attributes
from heirloom.workflows.export import ExportWorkflow, export_workflow_id


async def start_export(temporal: Client, user_id: str, export_id: str, *, valid_s: int) -> None:
    """Start building the ZIP of `user_id`'s data under `export_id`."""
    await temporal.start_workflow(
        ExportWorkflow.run,
        ExportInput(user_id=user_id, export_id=export_id, valid_s=valid_s),
        id=export_workflow_id(user_id, export_id),
        task_queue=OPS_TASK_QUEUE,
        static_summary=f"Export of user {user_id}",
        # Lets the account's erasure find and delete this history too.
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(search_attributes.USER_ID, user_id)]
        ),
    )


async def export_status(temporal: Client, user_id: str, export_id: str) -> ExportStatus:
    """Where the export stands; NotFound for an id this user never started."""
    handle = temporal.get_workflow_handle(export_workflow_id(user_id, export_id))
    try:
        return await handle.query(ExportWorkflow.status)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound("No such export.") from None
        raise
