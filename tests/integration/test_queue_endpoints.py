"""Each endpoint of the GPU pool as `GET /v1/admin/queue` shows it (services/queue/endpoints.py):
its jobs in flight, its last hour's attempts and cost at its own price, and whether its latest
attempts failed often and recently enough for workers to hold jobs back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from heirloom.config import EndpointSettings, Settings
from heirloom.domain.jobs import Stage
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.money.credits import NewJob
from heirloom.services.queue.endpoints import EndpointLoads
from heirloom.services.runpod.runs import AttemptRecord
from heirloom.services.storage.keys import job_key


@pytest.fixture
def pool_services(settings: Settings) -> Iterator[Services]:
    pooled = settings.model_copy(
        update={
            "runpod_endpoints": [
                EndpointSettings(id="ep-a", gpu_slots=4, price_per_s_usd=0.001),
                EndpointSettings(id="ep-b", gpu_slots=2, price_per_s_usd=0.002, tiers=[Tier.PAID]),
            ],
            "runpod_endpoint_failures": 2,
        }
    )
    built = Services.build(pooled)
    yield built
    built.close()


def new_job(services: Services) -> str:
    user = services.accounts.create(
        email=f"{uuid.uuid4().hex[:10]}@example.com", tier=Tier.PAID, credits=10
    ).user
    job_id = uuid.uuid4().hex
    services.credits.reserve(
        NewJob(
            job_id=job_id,
            user_id=user.id,
            operations="restore",
            tier=Tier.PAID,
            original_key=job_key(user.id, job_id, "original", "jpg"),
        )
    )
    return job_id


def attempt(services: Services, job_id: str, endpoint: str, status: str, ms: int) -> None:
    services.model_runs.record_attempt(
        AttemptRecord(
            job_id=job_id,
            attempt=1,
            generation=0,
            runpod_job_id=uuid.uuid4().hex,
            status=status,
            execution_ms=ms,
            delay_ms=0,
            endpoint=endpoint,
        )
    )


def test_each_endpoint_shows_its_load_cost_and_failing_streak(pool_services: Services) -> None:
    services = pool_services
    running = new_job(services)
    services.jobs.set_stage(running, Stage.PROCESSING, runpod_job_id="rp-1")
    services.model_runs.record_runpod_job(running, "rp-1", "ep-b")
    done = new_job(services)
    attempt(services, done, "ep-a", "COMPLETED", 2000)
    attempt(services, done, "ep-b", "COMPLETED", 1000)
    attempt(services, done, "ep-b", "FAILED", 500)
    attempt(services, done, "ep-b", "TIMED_OUT", 500)

    loads = {load.config.id: load for load in EndpointLoads(services.db, services.settings).all()}

    assert loads["ep-a"].in_flight == 0
    assert loads["ep-b"].in_flight == 1
    assert loads["ep-a"].attempts_last_hour == 1
    assert loads["ep-a"].cost_usd_last_hour == pytest.approx(2.0 * 0.001)
    assert loads["ep-b"].cost_usd_last_hour == pytest.approx(2.0 * 0.002)
    assert loads["ep-b"].failed_last_hour == 2
    assert loads["ep-b"].gpu_s_last_hour == pytest.approx(2.0)
    assert loads["ep-b"].consecutive_failures == 2
    assert loads["ep-b"].failing
    assert not loads["ep-a"].failing
    assert [tier.value for tier in loads["ep-b"].config.tiers] == ["paid"]
