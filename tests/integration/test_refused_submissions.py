"""A refused submission never charges, not even for a minute: with the tier's worker frozen
(SIGSTOP) the API answers 503 and records the submission withdrawn; the worker, woken up,
runs the reservation it held and is refused, so the balance never drops.

The stack runs as production runs it, one process per part (tests/harness/processes.py), so
the worker can be frozen and woken as a process.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from heirloom.db.models import WithdrawnSubmission
from heirloom.domain.tiers import Tier
from heirloom.services.money.credits import WITHDRAWN_LOG_LINE
from tests.harness.processes import ProcessStack, process_stack
from tests.support import photo_bytes, submit, wait_final, wait_until

SUBMIT_TIMEOUT_S = 3
# How long the balance is polled, once a second, after the woken worker's reservation was
# refused and the run is gone: nothing is left that could charge. The acceptance run polls
# for two minutes (HEIRLOOM_TEST_WATCH_AFTER_WAKE_S=120).
WATCH_AFTER_WAKE_S = float(os.environ.get("HEIRLOOM_TEST_WATCH_AFTER_WAKE_S", "10"))


@pytest.fixture(scope="module")
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessStack]:
    home = tmp_path_factory.mktemp("processes")
    env = {"HEIRLOOM_SUBMIT_TIMEOUT_S": str(SUBMIT_TIMEOUT_S)}
    with process_stack(home, gpus=1, env=env) as stack:
        yield stack


def _client(stack: ProcessStack, tier: Tier) -> tuple[str, httpx.Client]:
    account = stack.services.accounts.create(
        email=f"{uuid.uuid4().hex[:10]}@example.com", tier=tier, credits=20
    )
    client = httpx.Client(
        base_url=stack.api_url,
        headers={"Authorization": f"Bearer {account.api_key}"},
        timeout=60,
    )
    return account.user.id, client


def _balance(client: httpx.Client) -> int:
    response = client.get("/v1/me")
    assert response.status_code == 200, response.text
    return int(response.json()["balance"])


def test_a_503_while_the_worker_is_frozen_never_charges(processes: ProcessStack) -> None:
    stack = processes
    home = Path(stack.services.settings.home)
    worker_log = home / "worker.log"
    # The worker serves: a first job completes (and its poller is known to Temporal).
    _, warm = _client(stack, Tier.FREE)
    with warm:
        done = wait_final(warm, submit(warm, photo_bytes(320, 240)).json()["id"])
        assert done["status"] == "completed"

    user_id, client = _client(stack, Tier.FREE)
    worker = stack.pids["worker"]
    with client:
        os.kill(worker, signal.SIGSTOP)
        try:
            refused = submit(client, photo_bytes(320, 240, seed=7))
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "service_unavailable"
            # Recorded before the answer, in the database the reservation writes.
            with stack.services.db.session() as session:
                withdrawn = session.exec(
                    select(WithdrawnSubmission).where(WithdrawnSubmission.user_id == user_id)
                ).all()
            assert len(withdrawn) == 1
            assert _balance(client) == 20
        finally:
            os.kill(worker, signal.SIGCONT)
        balances = [_balance(client)]
        refusal = f"job {withdrawn[0].job_id}: {WITHDRAWN_LOG_LINE}"

        def refused_on_wake() -> bool:
            time.sleep(1)
            balances.append(_balance(client))
            assert balances[-1] == 20, f"charged after the 503: {balances}"
            return refusal in worker_log.read_text(errors="replace")

        wait_until(refused_on_wake, "the woken worker's reservation was refused", timeout=60)
        watch_until = time.monotonic() + WATCH_AFTER_WAKE_S
        while time.monotonic() < watch_until:
            time.sleep(1)
            balances.append(_balance(client))
        assert set(balances) == {20}, balances
        assert client.get("/v1/jobs").json()["jobs"] == []
    assert stack.services.credits.check_consistency([user_id]) == []
