"""The scheduled prune of the change feed, run through the real worker."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col
from temporalio.client import Client

from heirloom.db.models import JobEvent, utcnow
from heirloom.domain.messages import PruneEventsInput
from heirloom.domain.task_queues import OPS_TASK_QUEUE
from heirloom.workflows.events import EventsPruneWorkflow
from tests.conftest import Stack
from tests.support import photo_bytes, submit, wait_final


def test_prune_workflow_deletes_events_past_retention_and_keeps_the_rest(stack: Stack) -> None:
    _, key = stack.new_user(credits=20)
    with stack.client(key) as client:
        old, recent = (submit(client, photo_bytes(seed=s)).json()["id"] for s in (61, 62))
        for job_id in (old, recent):
            assert wait_final(client, job_id)["status"] == "completed"
    with stack.services.db.session() as session:
        session.execute(
            sa.update(JobEvent)
            .where(col(JobEvent.job_id) == old)
            .values(created_at=utcnow() - timedelta(days=30))
        )
    kept = len(stack.services.events.for_job(recent, 0))

    async def run() -> int:
        client = await Client.connect(
            stack.settings.temporal_address, namespace=stack.settings.temporal_namespace
        )
        return await client.execute_workflow(
            EventsPruneWorkflow.run,
            PruneEventsInput(retention_days=7, batch=2),
            id=f"test-prune-{uuid.uuid4().hex}",
            task_queue=OPS_TASK_QUEUE,
            execution_timeout=timedelta(seconds=60),
        )

    assert asyncio.run(run()) >= 1
    assert stack.services.events.for_job(old, 0) == []
    assert len(stack.services.events.for_job(recent, 0)) == kept
