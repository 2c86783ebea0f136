"""The model step without Temporal (services/runpod/model_step.py): each attempt is told its
number, a heartbeat and whether a cancel is the job's, and runs against the local RunPod
endpoint (the real handler) and a real database. A model never runs twice for one claim, a
RunPod job seen dead lets it run again, and a cancel stops the GPU job only when the job asked.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from heirloom.config import FaultSettings, Settings
from heirloom.domain.errors import HeirloomError, ModelFailed, ModelTimedOut
from heirloom.domain.jobs import MODEL_PROGRESS_SPAN
from heirloom.domain.messages import JobRef, ModelRequest, ModelResult
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.money.credits import NewJob
from heirloom.services.runpod.model_step import ModelStep, StepAttempt
from heirloom.services.runpod.polls import PollScheduler
from heirloom.services.runpod.transfer import ModelTransfer
from heirloom.services.storage.keys import job_key, model_key
from heirloom.services.storage.s3 import S3Storage
from tests.harness.stack import local_endpoint
from tests.support import photo_bytes, wait_until

API_KEY = "model-step-key"


@dataclass
class World:
    """Services on a fresh database, and the local endpoint's admin routes."""

    services: Services
    admin: httpx.Client

    def set_faults(self, **faults: float) -> None:
        body = FaultSettings(**faults).model_dump()
        self.admin.put("/_admin/faults", json=body).raise_for_status()

    def submissions(self) -> dict[str, int]:
        counts: dict[str, int] = self.admin.get("/_admin/stats").json()["submitted_by_ref"]
        return counts

    def model_executions(self) -> dict[str, int]:
        stats = self.admin.get("/_admin/stats").json()
        counts: dict[str, int] = stats["model_executions_by_ref"]
        return counts


@contextmanager
def world_on(database_url: str, home: Path, **overrides: Any) -> Iterator[World]:
    with (
        local_endpoint(Settings(home=home, runpod_api_key=API_KEY)) as url,
        httpx.Client(base_url=url) as admin,
    ):
        settings = Settings(
            home=home,
            database_url=database_url,
            runpod_api_key=API_KEY,
            runpod_base_url=f"{url}/v2",
            runpod_poll_interval_s=0.05,
            **overrides,
        )
        services = Services.build(settings)
        try:
            yield World(services, admin)
        finally:
            services.close()


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    """Local storage, shared with the endpoint: the photo and the output travel inline."""
    with world_on(database_url, tmp_path / "home") as running:
        yield running


@pytest.fixture
def s3_world(database_url: str, tmp_path: Path, s3_endpoint: str) -> Iterator[World]:
    """S3 storage (moto): the handler reads and writes through presigned URLs."""
    with world_on(
        database_url,
        tmp_path / "home",
        storage_backend="s3",
        s3_endpoint_url=s3_endpoint,
        s3_bucket=f"model-step-{uuid.uuid4().hex[:12]}",
    ) as running:
        assert isinstance(running.services.storage, S3Storage)
        running.services.storage.ensure_bucket()
        yield running


@dataclass
class Heartbeats:
    """A heartbeat that keeps what each beat said."""

    beats: list[tuple[Any, ...]] = field(default_factory=list)

    def __call__(self, *details: Any) -> None:
        self.beats.append(details)


def attempt(
    number: int, heartbeat: Heartbeats | None = None, *, job_cancelled: bool = False
) -> StepAttempt:
    return StepAttempt(
        number=number,
        heartbeat=heartbeat or Heartbeats(),
        heartbeat_every_s=0.05,
        cancel_requested=lambda: job_cancelled,
    )


def model_step(services: Services) -> ModelStep:
    """The step as a worker builds it, with a poll scheduler of its own event loop."""
    return ModelStep(
        runpod=services.runpod,
        polls=PollScheduler.from_settings(services.settings, services.runpod.status_async),
        runs=services.model_runs,
        jobs=services.jobs,
        storage=services.storage,
        transfer=ModelTransfer(services.storage, services.settings),
        settings=services.settings,
    )


def run_step(services: Services, request: ModelRequest, step: StepAttempt) -> ModelResult:
    async def run() -> ModelResult:
        try:
            return await model_step(services).run(request, step)
        finally:
            await services.runpod.close_async()

    return asyncio.run(run())


def new_job(services: Services) -> ModelRequest:
    """A charged job whose prepared input is stored."""
    user = services.accounts.create(
        email=f"{uuid.uuid4().hex[:10]}@example.com", tier=Tier.PAID, credits=10
    ).user
    job = JobRef(job_id=uuid.uuid4().hex, user_id=user.id, operations="restore")
    services.credits.reserve(
        NewJob(
            job_id=job.job_id,
            user_id=user.id,
            operations=job.operations,
            tier=Tier.PAID,
            original_key=job_key(user.id, job.job_id, "original", "jpg"),
        )
    )
    input_key = job_key(user.id, job.job_id, "input", "jpg")
    services.storage.put(input_key, photo_bytes(96, 64), content_type="image/jpeg")
    return ModelRequest(job=job, input_key=input_key)


def lost_submission(services: Services, request: ModelRequest, generation: int) -> str:
    """What a killed attempt leaves: a RunPod job nobody recorded."""
    payload = ModelTransfer(services.storage, services.settings).payload(request, generation)
    return services.runpod.submit(payload, execution_timeout_s=60, ttl_s=600)


def wait_status(services: Services, runpod_job_id: str, status: str) -> None:
    wait_until(
        lambda: services.runpod.status(runpod_job_id).status == status,
        f"{runpod_job_id} to reach {status}",
        interval=0.02,
    )


def attempts(services: Services, request: ModelRequest) -> list[tuple[int, str, int]]:
    """(attempt, RunPod status, claim generation) of every RunPod job the job ended up with."""
    rows = services.model_runs.attempts([request.job.job_id])
    return [(row.attempt, row.status, row.generation) for row in rows]


def stored_png(services: Services, result: ModelResult) -> tuple[int, int]:
    image = Image.open(io.BytesIO(services.storage.get(result.model_key)))
    assert image.format == "PNG"
    return image.size


# --- submit, resume, follow ----------------------------------------------------------------


def test_a_first_attempt_submits_once_and_stores_the_inline_output(world: World) -> None:
    services = world.services
    request = new_job(services)

    result = run_step(services, request, attempt(1))

    job = request.job
    assert result.model_key == model_key(job.user_id, job.job_id, 0)
    assert stored_png(services, result) == (96, 64)
    assert world.submissions() == {job.job_id: 1}
    assert world.model_executions() == {job.job_id: 1}
    assert services.model_runs.state(job.job_id).runpod_job_id == result.runpod_job_id
    assert attempts(services, request) == [(1, "COMPLETED", 0)]


def test_an_output_the_handler_put_at_the_model_key_is_kept_there(s3_world: World) -> None:
    services = s3_world.services
    request = new_job(services)

    result = run_step(services, request, attempt(1))

    answer = services.runpod.status(result.runpod_job_id).output or {}
    assert answer["output_key"] == result.model_key
    assert "image_base64" not in answer
    assert stored_png(services, result) == (96, 64)
    assert s3_world.model_executions() == {request.job.job_id: 1}


def test_a_retry_resumes_the_live_runpod_job_an_earlier_attempt_recorded(world: World) -> None:
    services = world.services
    world.set_faults(execution_ms=500)
    request = new_job(services)
    running = lost_submission(services, request, generation=0)
    services.model_runs.record_runpod_job(request.job.job_id, running)
    wait_status(services, running, "IN_PROGRESS")

    result = run_step(services, request, attempt(2))

    assert result.runpod_job_id == running
    assert stored_png(services, result) == (96, 64)
    assert world.submissions() == {request.job.job_id: 1}
    assert world.model_executions() == {request.job.job_id: 1}
    assert attempts(services, request) == [(2, "COMPLETED", 0)]


def test_a_retry_that_lost_the_runpod_id_follows_the_claimant(world: World) -> None:
    services = world.services
    world.set_faults(execution_ms=500)
    request = new_job(services)
    lost = lost_submission(services, request, generation=0)
    wait_status(services, lost, "IN_PROGRESS")

    result = run_step(services, request, attempt(2))

    assert result.runpod_job_id == lost
    assert stored_png(services, result) == (96, 64)
    assert world.submissions() == {request.job.job_id: 2}
    assert world.model_executions() == {request.job.job_id: 1}
    rows = services.model_runs.attempts([request.job.job_id])
    assert [(a.duplicate, a.duplicate_of) for a in rows] == [(True, lost), (False, None)]
    assert services.model_runs.state(request.job.job_id).runpod_job_id == lost


def test_a_runpod_job_seen_dead_opens_a_new_generation_that_runs_the_model(
    world: World,
) -> None:
    services = world.services
    world.set_faults(execution_ms=300)
    request = new_job(services)
    dead = lost_submission(services, request, generation=0)
    wait_status(services, dead, "IN_PROGRESS")
    services.runpod.cancel(dead)  # it claimed generation 0, then died
    services.model_runs.record_runpod_job(request.job.job_id, dead)

    result = run_step(services, request, attempt(2))

    assert result.runpod_job_id != dead
    assert services.model_runs.state(request.job.job_id).generation == 1
    assert world.model_executions() == {request.job.job_id: 2}
    assert attempts(services, request) == [(2, "CANCELLED", 0), (2, "COMPLETED", 1)]


def test_a_stored_output_is_used_when_runpod_forgot_the_job(world: World) -> None:
    services = world.services
    request = new_job(services)
    job = request.job
    stored = model_key(job.user_id, job.job_id, 0)
    services.storage.put(stored, photo_bytes(96, 64, fmt="PNG"), content_type="image/png")
    services.model_runs.record_runpod_job(job.job_id, "forgotten-runpod-job")

    result = run_step(services, request, attempt(3))

    assert (result.model_key, result.runpod_job_id) == (stored, "forgotten-runpod-job")
    assert world.submissions() == {}


# --- a RunPod job that ends without an image ---------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [("failed", ModelFailed, "FAILED"), ("timeout", ModelTimedOut, "TIMED_OUT")],
)
def test_a_failed_runpod_job_is_tried_once_more_and_then_final(
    world: World, fault: str, error: type[HeirloomError], status: str
) -> None:
    services = world.services
    world.set_faults(**{fault: 1.0})
    request = new_job(services)

    with pytest.raises(error) as first:
        run_step(services, request, attempt(1))
    with pytest.raises(error) as second:
        run_step(services, request, attempt(2))

    assert (first.value.retryable, second.value.retryable) == (True, False)
    # The second attempt saw the first RunPod job dead and ran the model on a new claim.
    assert attempts(services, request) == [(1, status, 0), (2, status, 1)]


# --- cancel and heartbeats -----------------------------------------------------------------


@pytest.mark.parametrize(("job_cancelled", "left"), [(True, "CANCELLED"), (False, "IN_PROGRESS")])
def test_a_cancel_stops_the_gpu_job_only_when_the_job_is_cancelled(
    world: World, job_cancelled: bool, left: str
) -> None:
    """A cancelled job stops its GPU job; an abandoned attempt (a timeout, a worker stopping)
    leaves it running for the retry to resume."""
    services = world.services
    world.set_faults(execution_ms=20_000)
    request = new_job(services)

    async def cancelled_while_running() -> str:
        step = model_step(services)
        running = asyncio.create_task(step.run(request, attempt(1, job_cancelled=job_cancelled)))
        try:
            runpod_job_id = await asyncio.to_thread(
                wait_until,
                lambda: services.model_runs.state(request.job.job_id).runpod_job_id,
                "the RunPod job to be recorded",
            )
            await asyncio.to_thread(wait_status, services, runpod_job_id, "IN_PROGRESS")
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            return runpod_job_id
        finally:
            await services.runpod.close_async()

    runpod_job_id = asyncio.run(cancelled_while_running())

    assert services.runpod.status(runpod_job_id).status == left


def test_heartbeats_follow_the_runpod_job_and_its_progress_while_it_runs(world: World) -> None:
    services = world.services
    world.set_faults(execution_ms=800)
    request = new_job(services)
    heartbeats = Heartbeats()

    result = run_step(services, request, attempt(1, heartbeats))

    beats = [beat for beat in heartbeats.beats if beat]
    assert len(beats) >= 5, heartbeats.beats
    assert {runpod_job_id for runpod_job_id, _ in beats} == {result.runpod_job_id}
    progress = [shown for _, shown in beats]
    assert progress[0] == MODEL_PROGRESS_SPAN[0]
    assert progress == sorted(progress)
    assert progress[-1] > MODEL_PROGRESS_SPAN[0]  # the handler's steps showed
    assert services.jobs.get(request.job.job_id).progress == progress[-1]
