"""The GPU pool's rules (domain/endpoints.py) and the pool's pacing of polls
(services/runpod/pool.py): which endpoint a step goes to, when an endpoint is unhealthy and
back, and when a job's next poll is due."""

from __future__ import annotations

import asyncio

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
from heirloom.services.runpod.pool import PACE_MARGIN_S, PACE_MARGIN_SHARE, EndpointPool


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


def state(
    status: str, execution_ms: int, output: dict[str, object] | None = None
) -> RunPodJobState:
    return RunPodJobState("rp", status, output, None, 0, execution_ms)


def test_a_prefetched_job_is_first_polled_when_the_run_ahead_should_end() -> None:
    async def scenario() -> None:
        clock = Clock()
        settings = Settings(worker_gpu_slots=1, gpu_prefetch_per_endpoint=1)
        pool = EndpointPool.from_settings(settings, lambda _: None, clock=clock)  # type: ignore[arg-type, return-value]
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
        pool = EndpointPool.from_settings(settings, lambda _: None)  # type: ignore[arg-type, return-value]
        endpoint = pool.first
        for _ in range(3):
            pool.observe_error(endpoint, RateLimited("429", retry_after_s=1.0))
            pool.observe_error(endpoint, HeldBack("no connection free"))
        assert endpoint.health.failures == 0
        pool.observe_error(endpoint, NotSent("connection refused"))
        pool.observe_error(endpoint, ModelUnavailable("HTTP 503"))
        assert state_of(endpoint.health) is EndpointState.UNHEALTHY

    asyncio.run(scenario())
