"""The GPU pool over three local RunPod endpoints (devstack endpoint apps, the real handler):
one fails every job, one is slow, one is fast. 100 jobs run their model steps as the GPU
queue's worker runs them (at most `gpu_admission` at once, Temporal's retries by attempt
number), against a real database and the storage the endpoints share for claims.

Every job completes with one model execution and one submission per claim generation; the
failing endpoint gets no job after it is marked unhealthy; each endpoint's log shows its own
request budgets held.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from heirloom.config import FaultSettings, Settings
from heirloom.domain.endpoints import EndpointState
from heirloom.domain.errors import HeirloomError
from heirloom.domain.messages import JobRef, ModelRequest, ModelResult
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.money.credits import NewJob
from heirloom.services.runpod.model_step import ModelStep, StepAttempt
from heirloom.services.runpod.pool import EndpointPool
from heirloom.services.runpod.transfer import ModelTransfer
from heirloom.services.storage.keys import job_key
from tests.harness.stack import local_endpoint
from tests.support import photo_bytes

API_KEY = "gpu-pool-key"
JOBS = 100
# Temporal's attempts of a paid model step.
ATTEMPTS = 4
# Each endpoint's budgets, far below RunPod's, so the pool must keep to them.
RUN_PER_10S = 60
STATUS_PER_10S = 120
CANCEL_PER_10S = 10

# id -> (price per GPU second, faults). The failing one is the cheapest: the rule sends it
# jobs first, until it is marked unhealthy.
ENDPOINTS: dict[str, tuple[float, dict[str, Any]]] = {
    "ep-failing": (0.0005, {"failed": 1.0, "execution_ms": 50}),
    "ep-fast": (0.0010, {"execution_ms": 100}),
    "ep-slow": (0.0020, {"execution_ms": 400, "latency_ms": 60}),
}


@dataclass
class Pool:
    services: Services
    admins: dict[str, httpx.Client]

    def stats(self, endpoint: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.admins[endpoint].get("/_admin/stats").json()
        return answer

    def runs(self, endpoint: str) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self.admins[endpoint].get("/_admin/runs").json()
        return answer


@pytest.fixture
def pool(database_url: str, tmp_path: Path) -> Iterator[Pool]:
    home = tmp_path / "home"
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}
        admins: dict[str, httpx.Client] = {}
        for endpoint, (_, faults) in ENDPOINTS.items():
            endpoint_settings = Settings(
                home=home,
                runpod_api_key=API_KEY,
                runpod_endpoint_id=endpoint,
                devstack_runpod_workers=2,
                faults=FaultSettings(**faults),
            )
            urls[endpoint] = stack.enter_context(local_endpoint(endpoint_settings))
            admins[endpoint] = stack.enter_context(httpx.Client(base_url=urls[endpoint]))
        settings = Settings(
            home=home,
            database_url=database_url,
            runpod_api_key=API_KEY,
            runpod_endpoints=[
                {
                    "id": endpoint,
                    "base_url": f"{urls[endpoint]}/v2",
                    "gpu_slots": 2,
                    "price_per_s_usd": price,
                    "run_per_10s": RUN_PER_10S,
                    "status_per_10s": STATUS_PER_10S,
                    "cancel_per_10s": CANCEL_PER_10S,
                }
                for endpoint, (price, _) in ENDPOINTS.items()
            ],
            runpod_endpoint_failures=3,
            # Longer than the test: an unhealthy endpoint is not probed back into the pool.
            runpod_endpoint_cooldown_s=600,
        )
        services = Services.build(settings, pool_size=20)
        stack.callback(services.close)
        yield Pool(services, admins)


def new_job(services: Services) -> ModelRequest:
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
    services.storage.put(input_key, photo_bytes(64, 48), content_type="image/jpeg")
    return ModelRequest(job=job, input_key=input_key, tier=Tier.PAID.value)


async def run_with_retries(
    services: Services, pool: EndpointPool, request: ModelRequest
) -> ModelResult:
    """The model step's attempts as Temporal runs them: the next attempt after a retryable
    error, up to the tier's attempts."""
    for number in range(1, ATTEMPTS + 1):
        step = ModelStep(
            runpod=services.runpod,
            polls=pool.first.polls,
            pool=pool,
            runs=services.model_runs,
            jobs=services.jobs,
            storage=services.storage,
            transfer=ModelTransfer(services.storage, services.settings),
            settings=services.settings,
        )
        attempt = StepAttempt(
            number=number,
            heartbeat=lambda *details: None,
            heartbeat_every_s=0.5,
            cancel_requested=lambda: False,
        )
        try:
            return await step.run(request, attempt)
        except HeirloomError as err:
            if not err.retryable or number == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


async def run_all(
    services: Services, requests: list[ModelRequest]
) -> tuple[EndpointPool, float | None]:
    """Every job's model step, at most the worker's GPU admission at once; returns the pool
    and when (monotonic) a finished step first saw the failing endpoint marked unhealthy
    (None if none did)."""
    pool = EndpointPool.from_settings(services.settings, services.runpod_for)
    admission = asyncio.Semaphore(services.settings.gpu_admission)
    marked_at: list[float] = []

    async def one(request: ModelRequest) -> ModelResult:
        async with admission:
            result = await run_with_retries(services, pool, request)
            failing = pool.endpoints["ep-failing"].health
            if failing.unhealthy_since is not None and not marked_at:
                marked_at.append(failing.unhealthy_since)
            return result

    try:
        await asyncio.gather(*(one(request) for request in requests))
    finally:
        for endpoint in pool.endpoints.values():
            await endpoint.service.close_async()
    return pool, marked_at[0] if marked_at else None


def test_a_pool_with_a_failing_and_a_slow_endpoint_runs_each_job_once_within_each_budget(
    pool: Pool,
) -> None:
    services = pool.services
    assert services.settings.gpu_admission == 9
    requests = [new_job(services) for _ in range(JOBS)]
    job_ids = {r.job.job_id for r in requests}

    endpoint_pool, marked_at = asyncio.run(run_all(services, requests))

    # Every job completed: one model execution each, across the endpoints.
    executions: dict[str, int] = {}
    submissions: dict[str, dict[str, int]] = {}
    for endpoint in ENDPOINTS:
        stats = pool.stats(endpoint)
        for ref, count in stats["model_executions_by_ref"].items():
            executions[ref] = executions.get(ref, 0) + count
        submissions[endpoint] = stats["submitted_by_ref"]
    assert executions == dict.fromkeys(job_ids, 1)
    assert pool.stats("ep-failing")["model_executions"] == 0

    # One submission per claim generation: the attempts recorded per job are its RunPod jobs,
    # a FAILED one on the failing endpoint at most, then the completed one elsewhere.
    rows = services.model_runs.attempts(sorted(job_ids))
    by_job: dict[str, list[tuple[int, str, str | None]]] = {}
    for row in rows:
        by_job.setdefault(row.job_id, []).append((row.generation, row.status, row.endpoint))
    for job_id in job_ids:
        seen = by_job[job_id]
        generations = [generation for generation, _, _ in seen]
        assert len(generations) == len(set(generations)), seen
        assert [status for _, status, _ in seen].count("COMPLETED") == 1, seen
        submitted = sum(submissions[e].get(job_id, 0) for e in ENDPOINTS)
        assert submitted == len(seen), (job_id, seen, submissions)
        assert all(
            endpoint != "ep-failing" for _, status, endpoint in seen if status == "COMPLETED"
        )

    # The failing endpoint was marked unhealthy and got no job after: its log holds its three
    # failures and at most the runs already on their way when it was marked (one per slot), not
    # the hundred jobs that came later. (Counted, not timed: a /run sent before the mark may
    # reach the endpoint after it on a loaded machine.)
    failing = endpoint_pool.endpoints["ep-failing"]
    assert failing.health.state is EndpointState.UNHEALTHY
    assert marked_at is not None, "the failing endpoint was never marked unhealthy"
    on_failing = sum(submissions["ep-failing"].values())
    assert 3 <= on_failing <= 3 + failing.capacity
    # The slow endpoint took its share once the fast one's slots were full.
    assert sum(submissions["ep-slow"].values()) > 0
    assert sum(submissions["ep-fast"].values()) > sum(submissions["ep-slow"].values())

    # Each endpoint's log: its own budgets held (a bucket may spend its one burst token more).
    for endpoint in ENDPOINTS:
        peaks = pool.stats(endpoint)["peak_requests_per_10s"]
        assert peaks["run"] <= RUN_PER_10S + 1, (endpoint, peaks)
        assert peaks["status"] <= STATUS_PER_10S + 1, (endpoint, peaks)
        assert peaks["cancel"] <= CANCEL_PER_10S + 1, (endpoint, peaks)
        assert pool.stats(endpoint)["rate_limited"] == 0

    # Cost per attempt at the endpoint's price.
    for row in rows:
        price = ENDPOINTS[row.endpoint or ""][0]
        assert row.cost_usd == pytest.approx((row.execution_ms or 0) / 1000 * price)
