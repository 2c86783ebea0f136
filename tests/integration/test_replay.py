"""Workflow histories replay against the current code: a change that would break running jobs
(non-determinism) fails here, in CI, instead of in production. Every workflow type has recorded
histories: the restoration's three endings, and one run of each operations workflow (erasure,
export, webhook dispatch and delivery, reconciliation, cleanup, events pruning, alerts, queue
metrics), so a rolling deploy never breaks a running workflow of any kind.

The versioning rule. Until Heirloom's first release, workflows change freely: a change that no
longer replays records the histories again (`pytest tests/integration/test_replay.py
--record-histories`), replacing the files of the unreleased version. From the first release on,
every workflow change is versioned with `workflow.patched` (one helper per patch, so the steps
still read as the process), the new histories are recorded beside the old ones under the new
release's name, and every recorded history must keep replaying.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import json
import pkgutil
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

import heirloom.workflows
from heirloom.activities.webhooks import delivery_workflow_id
from heirloom.domain.albums import album_workflow_id
from heirloom.domain.periodic import Pace
from heirloom.domain.task_queues import OPS_TASK_QUEUE
from heirloom.domain.tiers import Tier
from heirloom.starters.albums import AlbumSubmitter, AlbumUpload
from heirloom.starters.erasure import start_erasure
from heirloom.starters.export import start_export
from heirloom.worker.schedules import periodic_jobs, webhook_dispatch_input
from heirloom.workflows.export import export_workflow_id
from heirloom.workflows.webhooks import WebhookDispatchWorkflow
from tests.conftest import Stack
from tests.support import photo_bytes, submit, wait_final, wait_stage

HISTORIES = Path(__file__).parent.parent / "histories"
KINDS = ("completed", "failed", "cancelled")
# The release whose runs `--record-histories` saves (`completed-0.1.json`, ...). Unreleased, so
# its files are re-recorded when a workflow changes; after a release, name the next one here.
RELEASE = "0.1"


def workflow_classes() -> list[type]:
    """Every workflow Heirloom defines: each @workflow.defn class of heirloom.workflows."""
    found: dict[str, type] = {}
    for module_info in pkgutil.iter_modules(heirloom.workflows.__path__):
        module = importlib.import_module(f"heirloom.workflows.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and hasattr(cls, "__temporal_workflow_definition"):
                found[cls.__name__] = cls
    return [found[name] for name in sorted(found)]


def workflow_type(history: WorkflowHistory) -> str:
    started = history.events[0].workflow_execution_started_event_attributes
    return str(started.workflow_type.name)


def replay(histories: list[WorkflowHistory]) -> None:
    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    replayer = Replayer(workflows=workflow_classes())
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
    # Every workflow type has a history of this release: none can change unnoticed.
    this_release = {workflow_type(h) for h in histories if h.workflow_id.endswith(f"-{RELEASE}")}
    assert {cls.__name__ for cls in workflow_classes()} - this_release == set()


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


@pytest.fixture
def webhook_receiver() -> Iterator[str]:
    """A loopback endpoint answering 200 to every delivery; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()
    server.server_close()


def test_this_sessions_runs_of_every_operations_workflow_replay(
    stack: Stack, webhook_receiver: str
) -> None:
    """One run of each operations workflow, on the stack's worker; `--record-histories` saves
    each as `<WorkflowType>-<release>.json`."""
    user_id, key = stack.new_user(tier=Tier.FREE, credits=20)
    with stack.client(key) as client:
        answer = client.put(
            "/v1/me/webhook", json={"url": webhook_receiver, "events": ["job.completed"]}
        )
        assert answer.status_code == 200, answer.text
        job_id = submit(client, photo_bytes(seed=5)).json()["id"]
        assert wait_final(client, job_id)["status"] == "completed"
    leaving, _ = stack.new_user(tier=Tier.FREE, credits=0)
    settings = stack.settings

    async def run_all() -> dict[str, WorkflowHistory]:
        temporal = await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace
        )
        ids: dict[str, str] = {}
        for job in periodic_jobs(settings):
            if job.workflow == WebhookDispatchWorkflow.__name__:
                continue
            ids[job.workflow] = f"replay-{job.schedule_id}-{uuid.uuid4().hex}"
            # A looping job's run as its schedule starts it, shortened: passes a second apart
            # for two seconds (its timers recorded too).
            argument = (
                dataclasses.replace(job.argument, pace=Pace(every_s=1, window_s=2))
                if job.loops
                else job.argument
            )
            await temporal.execute_workflow(
                job.workflow,
                argument,
                id=ids[job.workflow],
                task_queue=OPS_TASK_QUEUE,
                execution_timeout=timedelta(seconds=120),
            )
        ids["WebhookDispatchWorkflow"] = f"replay-dispatch-{uuid.uuid4().hex}"
        await temporal.execute_workflow(
            WebhookDispatchWorkflow.run,
            webhook_dispatch_input(settings),
            id=ids["WebhookDispatchWorkflow"],
            task_queue=OPS_TASK_QUEUE,
            execution_timeout=timedelta(seconds=60),
        )
        (delivery,) = stack.services.webhooks.deliveries(user_id, limit=10, before_id=None)
        ids["WebhookDeliveryWorkflow"] = delivery_workflow_id(delivery.id or 0, delivery.run)
        export_id = uuid.uuid4().hex
        await start_export(temporal, user_id, export_id, valid_s=1)
        ids["ExportWorkflow"] = export_workflow_id(user_id, export_id)
        ids["ErasureWorkflow"] = await start_erasure(temporal, leaving, heartbeat_timeout_s=30)
        async with asyncio.timeout(120):
            for workflow_id in ids.values():
                await temporal.get_workflow_handle(workflow_id).result()
        return {
            kind: await temporal.get_workflow_handle(workflow_id).fetch_history()
            for kind, workflow_id in ids.items()
        }

    histories = asyncio.run(run_all())
    assert {workflow_type(h) for h in histories.values()} == {
        cls.__name__ for cls in workflow_classes()
    } - {"RestorationWorkflow", "AlbumWorkflow"}
    replay(list(histories.values()))
    if stack.settings.temporal_namespace == "default" and RECORD.enabled:
        for kind, history in histories.items():
            (HISTORIES / f"{kind}-{RELEASE}.json").write_text(history.to_json())


class _Photo:
    """What the album's starter reads of an upload."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self, size: int = -1) -> bytes:
        return self._data if size < 0 else self._data[:size]


def test_this_sessions_album_run_and_one_of_its_photos_replay(stack: Stack) -> None:
    """An album of two photos to its end (its ZIP kept a second); `--record-histories` saves
    the album's run and one photo's (a child run charged with its album)."""
    user_id, _ = stack.new_user(tier=Tier.PAID, credits=20)
    settings = stack.settings
    services = stack.services

    async def run() -> dict[str, WorkflowHistory]:
        temporal = await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace
        )
        submitter = AlbumSubmitter(services, temporal)
        submitter.settings = settings.model_copy(update={"album_zip_valid_s": 1})
        user = services.accounts.get(user_id)
        uploads = [
            AlbumUpload(name=f"p{n}.jpg", size=None, data=_Photo(photo_bytes(64, 48, seed=n)))
            for n in range(2)
        ]
        album = await submitter.submit(user, uploads, "restore")
        album_id = album_workflow_id(album.id)
        async with asyncio.timeout(120):
            await temporal.get_workflow_handle(album_id).result()
        photo = services.albums.jobs(album.id)[0].id
        return {
            "AlbumWorkflow": await temporal.get_workflow_handle(album_id).fetch_history(),
            "album-photo": await temporal.get_workflow_handle(photo).fetch_history(),
        }

    histories = asyncio.run(run())
    replay(list(histories.values()))
    if settings.temporal_namespace == "default" and RECORD.enabled:
        for kind, history in histories.items():
            (HISTORIES / f"{kind}-{RELEASE}.json").write_text(history.to_json())


class RECORD:
    """Set by the --record-histories pytest option (see conftest.py)."""

    enabled = False


@pytest.fixture(autouse=True)
def _record_option(request: pytest.FixtureRequest) -> None:
    RECORD.enabled = bool(request.config.getoption("--record-histories", default=False))
