"""Starting a user's data export on the export queue."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from heirloom.domain.messages import ExportInput
from heirloom.domain.task_queues import EXPORT_TASK_QUEUE
from heirloom.temporal import search_attributes
from heirloom.workflows.export import ExportWorkflow, export_workflow_id


async def start_export(temporal: Client, user_id: str, export_id: str, *, valid_s: int) -> None:
    """Start building the ZIP of `user_id`'s data under `export_id` (its row exists)."""
    await temporal.start_workflow(
        ExportWorkflow.run,
        ExportInput(user_id=user_id, export_id=export_id, valid_s=valid_s),
        id=export_workflow_id(user_id, export_id),
        task_queue=EXPORT_TASK_QUEUE,
        static_summary=f"Export of user {user_id}",
        # Lets the account's erasure find and delete this history too.
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(search_attributes.USER_ID, user_id)]
        ),
    )
