"""Starting an account's erasure: one durable workflow per user, started at most once."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from heirloom.domain.messages import ErasureInput
from heirloom.domain.task_queues import OPS_TASK_QUEUE
from heirloom.workflows.erasure import ErasureWorkflow, erasure_workflow_id


async def start_erasure(temporal: Client, user_id: str, *, heartbeat_timeout_s: int) -> str:
    """Start (or join the running) erasure of `user_id`; returns its workflow id."""
    workflow_id = erasure_workflow_id(user_id)
    await temporal.start_workflow(
        ErasureWorkflow.run,
        ErasureInput(user_id=user_id, heartbeat_timeout_s=heartbeat_timeout_s),
        id=workflow_id,
        task_queue=OPS_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Erase user {user_id}",
    )
    return workflow_id
