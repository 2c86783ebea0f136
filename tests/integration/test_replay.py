"""Workflow histories replay against the current code: a change that would break running jobs
(non-determinism) fails here, in CI, instead of in production.

The versioning rule. Until Heirloom's first release, workflows change freely: a change that no
longer replays records the histories again (`pytest tests/integration/test_replay.py
--record-histories`), replacing the files of the unreleased version. From the first release on,
every workflow change is versioned with `workflow.patched` (one helper per patch, so the steps
still read as the process), the new histories are recorded beside the old ones under the new
release's name, and every recorded history must keep replaying.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from heirloom.domain.tiers import Tier
from heirloom.workflows.restoration import RestorationWorkflow
from tests.conftest import Stack
from tests.support import photo_bytes, submit, wait_final, wait_stage

HISTORIES = Path(__file__).parent.parent / "histories"
KINDS = ("completed", "failed", "cancelled")
# The release whose runs `--record-histories` saves (`completed-0.1.json`, ...). Unreleased, so
# its files are re-recorded when a workflow changes; after a release, name the next one here.
RELEASE = "0.1"


def replay(histories: list[WorkflowHistory]) -> None:
    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    replayer = Replayer(workflows=[RestorationWorkflow])
    results = asyncio.run(replayer.replay_workflows(each(), raise_on_replay_failure=False))
    failures = {wid: str(err) for wid, err in results.replay_failures.items()}
    assert failures == {}


def test_recorded_histories_replay_without_nondeterminism() -> None:
    """Every recorded history (tests/histories) replays: one per ending of each release."""
    paths = sorted(HISTORIES.glob("*.json"))
    recorded = {path.stem for path in paths}
    for kind in KINDS:
        assert f"{kind}-{RELEASE}" in recorded, f"the {kind}-{RELEASE} history is missing"
    histories = []
    for path in paths:
        events = json.loads(path.read_text())
        histories.append(WorkflowHistory.from_json(f"recorded-{path.stem}", events))
    replay(histories)


def test_this_sessions_completed_failed_and_cancelled_runs_replay(faults: Stack) -> None:
    """Runs made now replay too; `pytest --record-histories` saves them as the new fixtures."""
    stack = faults
    _, key = stack.new_user(tier=Tier.FREE, credits=20)
    job_ids: dict[str, str] = {}
    with stack.client(key) as client:
        job_ids["completed"] = submit(client, photo_bytes()).json()["id"]
        assert wait_final(client, job_ids["completed"])["status"] == "completed"
        stack.set_faults(failed=1.0)
        job_ids["failed"] = submit(client, photo_bytes()).json()["id"]
        assert wait_final(client, job_ids["failed"])["status"] == "failed"
        stack.set_faults(execution_ms=20_000)
        job_ids["cancelled"] = submit(client, photo_bytes()).json()["id"]
        wait_stage(client, job_ids["cancelled"], "processing")
        client.post(f"/v1/jobs/{job_ids['cancelled']}/cancel")
        assert wait_final(client, job_ids["cancelled"])["status"] == "cancelled"

    async def fetch() -> dict[str, WorkflowHistory]:
        settings = stack.settings
        temporal = await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace
        )
        return {
            kind: await temporal.get_workflow_handle(job_id).fetch_history()
            for kind, job_id in job_ids.items()
        }

    histories = asyncio.run(fetch())
    replay(list(histories.values()))
    if stack.settings.temporal_namespace == "default" and RECORD.enabled:
        HISTORIES.mkdir(exist_ok=True)
        for kind, history in histories.items():
            (HISTORIES / f"{kind}-{RELEASE}.json").write_text(history.to_json())


class RECORD:
    """Set by the --record-histories pytest option (see conftest.py)."""

    enabled = False


@pytest.fixture(autouse=True)
def _record_option(request: pytest.FixtureRequest) -> None:
    RECORD.enabled = bool(request.config.getoption("--record-histories", default=False))
