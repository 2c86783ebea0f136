"""The GPU pool's rules (domain/endpoints.py) and the pool's pacing of polls
(services/runpod/pool.py): which endpoint a step goes to, when an endpoint is unhealthy and
back, and when a job's next poll is due."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from heirloom.config import Settings
from heirloom.domain.endpoints import (
    Candidate,
    EndpointHealth,
    EndpointState,
    choose_endpoint,
)
from heirloom.domain.errors import ModelUnavailable
from heirloom.services.runpod.client import HeldBack, NotSent, RateLimited, RunPodJobState
from heirloom.services.runpod.pool import (
    LATENESS_QUANTILE,
    LATENESS_SLACK,
    PACE_MARGIN_S,
    PACE_MARGIN_SHARE,
    EndpointPool,
    quantile,
)
from heirloom.worker.gpu_admission import GpuAdmission


def candidate(
    id: str,
    price: float,
    free: int = 1,
    state: EndpointState = EndpointState.HEALTHY,
    tiers: frozenset[str] = frozenset(),
) -> Candidate:
    return Candidate(id, price, tiers, free, state)


def test_the_cheapest_endpoint_with_a_free_slot_is_chosen() -> None:
    endpoints = [candidate("a", 0.002), candidate("b", 0.001), candidate("c", 0.0005, free=0)]
    assert choose_endpoint(endpoints, "free") == "b"


def test_a_tier_only_goes_to_endpoints_that_run_it() -> None:
    endpoints = [
        candidate("paid-only", 0.0001, tiers=frozenset({"paid", "forever"})),
        candidate("any", 0.002),
    ]
    assert choose_endpoint(endpoints, "free") == "any"
    assert choose_endpoint(endpoints, "paid") == "paid-only"


def test_an_unhealthy_endpoint_gets_no_job_while_another_runs_the_tier() -> None:
    endpoints = [candidate("cheap", 0.0001, state=EndpointState.UNHEALTHY), candidate("b", 0.01)]
    assert choose_endpoint(endpoints, "free") == "b"
    # The healthy one full: wait for it rather than use the unhealthy one.
    full = [endpoints[0], candidate("b", 0.01, free=0)]
    assert choose_endpoint(full, "free") is None


def test_with_every_endpoint_unhealthy_jobs_still_go_out() -> None:
    """A pool of one keeps working: holding jobs back would gain nothing."""
    endpoints = [candidate("only", 0.001, state=EndpointState.UNHEALTHY)]
    assert choose_endpoint(endpoints, "free") == "only"


def test_the_endpoint_a_job_died_on_is_avoided_while_another_can_run_it() -> None:
    endpoints = [candidate("died-here", 0.0001), candidate("other", 0.01, free=0)]
    assert choose_endpoint(endpoints, "paid", avoid=["died-here"]) is None
    assert choose_endpoint(endpoints[:1], "paid", avoid=["died-here"]) == "died-here"


def state_of(health: EndpointHealth) -> EndpointState:
    return health.state


def test_failures_mark_an_endpoint_unhealthy_and_a_probe_and_a_trial_bring_it_back() -> None:
    health = EndpointHealth(failures_to_unhealthy=3, cooldown_s=10)
    assert not health.failed(0)
    assert not health.failed(1)
    assert health.failed(2)
    assert state_of(health) is EndpointState.UNHEALTHY
    assert not health.probe_due(11)
    assert health.probe_due(12)
    health.probed(12, answered=False)
    assert not health.probe_due(21)
    health.probed(22, answered=True)
    assert state_of(health) is EndpointState.TRIAL
    # The trial job fails: unhealthy again, twice as long.
    assert health.failed(23)
    assert health.cooldown_s == 20
    assert not health.probe_due(42)
    health.probed(43, answered=True)
    health.succeeded()
    assert state_of(health) is EndpointState.HEALTHY
    assert health.cooldown_s == 10


def test_a_success_between_failures_resets_the_count() -> None:
    health = EndpointHealth(failures_to_unhealthy=2, cooldown_s=10)
    health.failed(0)
    health.succeeded()
    assert not health.failed(1)
    assert state_of(health) is EndpointState.HEALTHY


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pool_of(settings: Settings, clock: Callable[[], float] = time.monotonic) -> EndpointPool:
    """The pool of `settings`' endpoints, with no RunPod client: these tests never send."""
    return EndpointPool.from_settings(settings, lambda _: None, clock=clock)  # type: ignore[arg-type, return-value]


def state(
    status: str, execution_ms: int, output: dict[str, object] | None = None
) -> RunPodJobState:
    return RunPodJobState("rp", status, output, None, 0, execution_ms)


def test_a_prefetched_job_is_first_polled_when_the_run_ahead_should_end() -> None:
    async def scenario() -> None:
        clock = Clock()
        settings = Settings(worker_gpu_slots=1, gpu_prefetch_per_endpoint=1)
        pool = pool_of(settings, clock)
        endpoint = pool.first
        assert endpoint.capacity == 2
        first = await pool.acquire("free")
        # No model time learned yet: the longest poll interval.
        assert first.first_wait_s() == settings.runpod_poll_interval_s
        endpoint.observe_run(state("COMPLETED", 2000))
        assert endpoint.model_s == 2.0
        margin = PACE_MARGIN_S + PACE_MARGIN_SHARE * 2.0
        assert first.first_wait_s() == pytest.approx(2.0 + margin)
        clock.now += 0.5
        second = await pool.acquire("free")
        # One GPU: it starts when the first ends (1.5 s from now), then runs 2 s.
        assert second.first_wait_s() == pytest.approx(3.5 + margin)
        # The handler says the first is at step 15 of 20 after 1.5 s: 0.45 s to go.
        report = {"stage": "denoising", "step": 15, "total": 20}
        wait = first.pace(state("IN_PROGRESS", 1500, report))
        assert wait == pytest.approx(1.5 * 4.5 / 15.5 + margin)
        pool.release(first)
        assert endpoint.capacity - len(endpoint.leases) == 1

    asyncio.run(scenario())


def test_only_the_endpoints_own_faults_count_against_its_health() -> None:
    """A 429 (the budget's) or a wait for one of the worker's connections (the worker's) is not
    the endpoint's failure; an unreachable endpoint or a 5xx is."""

    async def scenario() -> None:
        settings = Settings(runpod_endpoint_failures=2)
        pool = pool_of(settings)
        endpoint = pool.first
        for _ in range(3):
            pool.observe_error(endpoint, RateLimited("429", retry_after_s=1.0))
            pool.observe_error(endpoint, HeldBack("no connection free"))
        assert endpoint.health.failures == 0
        pool.observe_error(endpoint, NotSent("connection refused"))
        pool.observe_error(endpoint, ModelUnavailable("HTTP 503"))
        assert state_of(endpoint.health) is EndpointState.UNHEALTHY

    asyncio.run(scenario())


def test_a_prefetched_step_is_admitted_shortly_before_the_gpu_it_takes_frees() -> None:
    """GPU slots are admitted at once; a step beyond them only `lead` (plus the worker's
    dispatch time and twice the runs' spread) before the run whose GPU it will take should
    end, so the GPU queue hands over whatever has the highest priority then."""

    async def scenario() -> None:
        clock = Clock()
        settings = Settings(worker_gpu_slots=2, gpu_prefetch_per_endpoint=1)
        pool = pool_of(settings, clock)
        endpoint = pool.first
        limit = endpoint.capacity
        assert limit == 3
        assert pool.admission_wait_s(0, limit, 0.2) == 0.0
        assert pool.admission_wait_s(1, limit, 0.2) == 0.0
        first = await pool.acquire("free")
        # No model time learnt yet: the prefetched step is admitted at once, as before.
        assert pool.admission_wait_s(2, limit, 0.2) == 0.0
        endpoint.observe_run(state("COMPLETED", 2000))
        first.first_wait_s()
        clock.now += 0.5
        second = await pool.acquire("free")
        second.first_wait_s()
        # Both GPUs busy: the first frees in 1.5 s, so the prefetch waits 1.3 s.
        assert pool.admission_wait_s(2, limit, 0.2) == pytest.approx(1.3)
        # One step already waits for the first GPU: the next takes the second's, in 2.0 s;
        # at the limit, none until a step leaves.
        assert pool.admission_wait_s(3, limit + 1, 0.2) == pytest.approx(1.8)
        assert pool.admission_wait_s(3, limit, 0.2) is None
        # The worker's own dispatch time counts too.
        pool.note_dispatch(0.1)
        assert pool.admission_wait_s(2, limit, 0.2) == pytest.approx(1.2)
        # A step storing an ended run's output holds no GPU.
        pool.finishing = 1
        assert pool.admission_wait_s(3, limit, 0.2) == pytest.approx(1.2)
        # Overdue: now.
        clock.now += 5
        assert pool.admission_wait_s(2, limit, 0.2) == 0.0

    asyncio.run(scenario())


def test_the_poll_margin_follows_how_late_recent_runs_ended() -> None:
    async def scenario() -> None:
        clock = Clock()
        settings = Settings(worker_gpu_slots=1, gpu_prefetch_per_endpoint=0)
        pool = pool_of(settings, clock)
        endpoint = pool.first
        endpoint.observe_run(state("COMPLETED", 2000))
        for late_ms in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100):
            lease = await pool.acquire("free")
            lease.submitted_at = clock.now
            lease.first_wait_s()
            ended = RunPodJobState("rp", "COMPLETED", {}, None, 0, 2000 + late_ms)
            pool.run_ended(lease, ended)
            pool.release(lease)
        # The runs ended later and later against an estimate that followed them: the margin
        # covers the latest of them, with some slack.
        late = quantile(endpoint.lateness, LATENESS_QUANTILE)
        assert late == pytest.approx(max(endpoint.lateness))
        assert 0.02 < late < 0.1
        assert endpoint.margin_s() == pytest.approx(PACE_MARGIN_S + LATENESS_SLACK * late)

    asyncio.run(scenario())


def test_the_gpu_workers_slot_supplier_holds_a_prefetch_back_until_it_is_due() -> None:
    """Temporal asks the supplier for a slot before each poll of the GPU queue: the GPU slots
    come at once, the prefetched one when the pool says so, and a released slot wakes it."""

    async def scenario() -> None:
        clock = Clock()
        settings = Settings(worker_gpu_slots=2, gpu_prefetch_per_endpoint=1)
        pool = pool_of(settings, clock)
        endpoint = pool.first
        admission = GpuAdmission(lambda: pool, slots=2, limit=3, lead_s=0.2)
        context: Any = None
        await admission.reserve_slot(context)
        await admission.reserve_slot(context)
        endpoint.observe_run(state("COMPLETED", 2000))
        for _ in range(2):
            lease = await pool.acquire("free")
            lease.first_wait_s()
        prefetch = asyncio.ensure_future(admission.reserve_slot(context))
        await asyncio.sleep(0.01)
        assert not prefetch.done()
        clock.now += 1.85
        pool.wake()
        await asyncio.wait_for(prefetch, timeout=10)
        assert admission.held == 3
        # At the limit, only a released slot lets the next one in (an eager task gets none).
        assert admission.try_reserve_slot(context) is None
        fourth = asyncio.ensure_future(admission.reserve_slot(context))
        await asyncio.sleep(0.01)
        assert not fourth.done()
        admission.release_slot(context)
        await asyncio.wait_for(fourth, timeout=10)
        assert admission.held == 3

    asyncio.run(scenario())
