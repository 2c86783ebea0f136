"""run_model's retried attempts, run for real against the local endpoint and a database: a lost
RunPod id never runs the model twice; a RunPod job seen dead lets the model run again."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from heirloom.activities.restoration import RestorationActivities
from heirloom.config import FaultSettings, Settings
from heirloom.domain.messages import JobRef, ModelRequest
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.money.credits import NewJob
from heirloom.services.storage.keys import job_key
from tests.harness.stack import local_endpoint
from tests.support import photo_bytes, wait_until

API_KEY = "model-runs-key"


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[tuple[Services, httpx.Client]]:
    """Services on a fresh database, and a local endpoint sharing their storage."""
    home = tmp_path / "home"
    endpoint_settings = Settings(home=home, runpod_api_key=API_KEY)
    with (
        local_endpoint(endpoint_settings) as url,
        httpx.Client(base_url=url) as admin,
    ):
        settings = Settings(
            home=home,
            database_url=database_url,
            runpod_api_key=API_KEY,
            runpod_base_url=f"{url}/v2",
            runpod_poll_interval_s=0.05,
        )
        services = Services.build(settings)
        try:
            yield services, admin
        finally:
            services.close()


def new_job(services: Services) -> ModelRequest:
    user = services.accounts.create(
        email=f"{uuid.uuid4().hex[:10]}@example.com", tier=Tier.PAID, credits=10
    ).user
    job = JobRef(job_id=uuid.uuid4().hex, user_id=user.id, operations="restore")
    original = job_key(user.id, job.job_id, "original", "jpg")
    services.credits.reserve(
        NewJob(
            job_id=job.job_id,
            user_id=user.id,
            operations=job.operations,
            tier=Tier.PAID,
            original_key=original,
        )
    )
    input_key = job_key(user.id, job.job_id, "input", "jpg")
    services.storage.put(input_key, photo_bytes(96, 64), content_type="image/jpeg")
    return ModelRequest(job=job, input_key=input_key)


def attempt(number: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=number)
    return env


def lost_submission(services: Services, request: ModelRequest, generation: int) -> str:
    """What a killed attempt leaves: a RunPod job nobody recorded."""
    payload = RestorationActivities(services)._transfer.payload(request, generation)
    return services.runpod.submit(payload, execution_timeout_s=60, ttl_s=600)


def wait_status(services: Services, runpod_job_id: str, status: str) -> None:
    wait_until(
        lambda: services.runpod.status(runpod_job_id).status == status,
        f"{runpod_job_id} to reach {status}",
        interval=0.02,
    )


def test_a_retry_that_lost_the_runpod_id_follows_the_claimant(
    world: tuple[Services, httpx.Client],
) -> None:
    services, admin = world
    admin.put("/_admin/faults", json=FaultSettings(execution_ms=500).model_dump())
    request = new_job(services)
    lost = lost_submission(services, request, generation=0)
    wait_status(services, lost, "IN_PROGRESS")

    result = asyncio.run(attempt(2).run(RestorationActivities(services).run_model, request))

    assert result.runpod_job_id == lost
    assert services.storage.exists(result.model_key)
    stats = admin.get("/_admin/stats").json()
    assert stats["submitted_by_ref"] == {request.job.job_id: 2}
    assert stats["model_executions_by_ref"] == {request.job.job_id: 1}
    attempts = services.model_runs.attempts([request.job.job_id])
    assert [(a.duplicate, a.duplicate_of) for a in attempts] == [(True, lost), (False, None)]
    assert services.model_runs.state(request.job.job_id).runpod_job_id == lost


def test_a_runpod_job_seen_dead_opens_a_new_generation_that_runs_the_model(
    world: tuple[Services, httpx.Client],
) -> None:
    services, admin = world
    admin.put("/_admin/faults", json=FaultSettings(execution_ms=300).model_dump())
    request = new_job(services)
    dead = lost_submission(services, request, generation=0)
    wait_status(services, dead, "IN_PROGRESS")
    services.runpod.cancel(dead)  # it claimed generation 0, then died
    services.model_runs.record_runpod_job(request.job.job_id, dead)

    result = asyncio.run(attempt(2).run(RestorationActivities(services).run_model, request))

    assert result.runpod_job_id != dead
    assert services.model_runs.state(request.job.job_id).generation == 1
    assert admin.get("/_admin/stats").json()["model_executions_by_ref"] == {request.job.job_id: 2}
    attempts = services.model_runs.attempts([request.job.job_id])
    assert [(a.runpod_job_id, a.status, a.generation) for a in attempts] == [
        (dead, "CANCELLED", 0),
        (result.runpod_job_id, "COMPLETED", 1),
    ]


def test_a_completed_output_is_used_when_runpod_forgot_the_job(
    world: tuple[Services, httpx.Client],
) -> None:
    services, admin = world
    request = new_job(services)
    job = request.job
    model_key = job_key(job.user_id, job.job_id, "model", "png")
    services.storage.put(model_key, photo_bytes(96, 64, fmt="PNG"), content_type="image/png")
    services.model_runs.record_runpod_job(job.job_id, "forgotten-runpod-job")

    result = asyncio.run(attempt(3).run(RestorationActivities(services).run_model, request))

    assert result.model_key == model_key
    assert admin.get("/_admin/stats").json()["submitted"] == 0
