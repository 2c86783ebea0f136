"""Erasure wins every race: an upload that finishes after the account's erasure began leaves
nothing that stays, and is never charged (checked after the erasure workflow's last step)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from temporalio.client import Client

from heirloom.domain.tiers import Tier
from heirloom.workflows.erasure import ErasureWorkflow, erasure_workflow_id
from tests.conftest import Stack
from tests.harness.held_storage import HeldWrites, holding_writes
from tests.support import HANG_GUARD_S, photo_bytes, submit, temporal_call


@pytest.fixture
def held_originals(stack: Stack) -> Iterator[HeldWrites]:
    """Uploads of originals wait until the test releases them."""
    with holding_writes(stack.services, lambda key: "/original." in key) as held:
        yield held


def test_an_upload_that_lands_after_the_erasure_leaves_nothing_and_charges_nothing(
    stack: Stack, held_originals: HeldWrites
) -> None:
    user_id, key = stack.new_user(tier=Tier.PAID, credits=20)
    with ThreadPoolExecutor(1) as pool, stack.client(key) as uploader, stack.client(key) as me:
        upload = pool.submit(submit, uploader, photo_bytes(640, 480, seed=31))
        assert held_originals.started.wait(30), "the upload never reached storage"
        assert me.delete("/v1/me").status_code == 202

        async def erased(client: Client) -> Any:
            handle = client.get_workflow_handle_for(
                ErasureWorkflow.run, erasure_workflow_id(user_id)
            )
            return await asyncio.wait_for(handle.result(), HANG_GUARD_S)

        temporal_call(stack.settings, erased)
        # The erasure's last step is done; now the upload's original lands in storage.
        held_originals.release.set()
        refused = upload.result()
    assert refused.status_code == 401, refused.text
    assert "nothing was charged" in refused.json()["error"]["message"]
    user_dir = stack.settings.resolved_storage_dir / "users" / user_id
    left = [p for p in user_dir.rglob("*") if p.is_file()] if user_dir.exists() else []
    assert left == []
    assert stack.services.erasure.job_ids(user_id) == []
    assert stack.services.credits.balance(user_id) == 20
    assert stack.services.credits.check_consistency([user_id]) == []
