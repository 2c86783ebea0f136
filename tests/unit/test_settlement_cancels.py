"""Settlement's `/cancel` keeps to RunPod's own /cancel limit: it takes the process's cancel
budget, the one the model steps' poll schedulers take their cancels from (no sleeps: a fake
clock that the budget's waits advance)."""

from __future__ import annotations

import logging

import httpx
import pytest

from heirloom.config import Settings
from heirloom.services.jobs.settlement import stop_gpu_job
from heirloom.services.runpod.budget import CANCEL_ROUTE, RequestBudget
from heirloom.services.runpod.client import RunPodJobState, RunPodService
from heirloom.services.runpod.polls import PollScheduler


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def runpod_answering(
    budget: RequestBudget, time: FakeTime, status: int = 200, retry_after: str | None = None
) -> tuple[RunPodService, list[tuple[float, str]]]:
    """A RunPodService whose requests reach an in-process RunPod; each request is recorded with
    the fake time it was sent at."""
    sent: list[tuple[float, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append((time.now, request.url.path))
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return httpx.Response(status, json={"id": "x", "status": "CANCELLED"}, headers=headers)

    runpod = RunPodService(
        api_key="k",
        endpoint_id="ep",
        base_url="http://runpod.invalid/v2",
        request_timeout_s=5,
        cancel_budget=budget,
    )
    runpod._sync = httpx.Client(
        base_url="http://runpod.invalid/v2/ep/", transport=httpx.MockTransport(answer)
    )
    return runpod, sent


def test_settlement_cancels_are_spaced_by_the_cancel_budget() -> None:
    time = FakeTime()
    budget = RequestBudget(2.0, clock=time.clock, sleep=time.sleep)
    runpod, sent = runpod_answering(budget, time)

    for n in range(5):
        stop_gpu_job(runpod, f"job-{n}", f"rp-{n}")

    assert [path for _, path in sent] == [f"/v2/ep/cancel/rp-{n}" for n in range(5)]
    at = [when for when, _ in sent]
    # 2 a second, one at once: each cancel half a second after the one before.
    assert at == pytest.approx([100.0, 100.5, 101.0, 101.5, 102.0])


def test_a_cancel_that_would_wait_past_the_request_timeout_is_not_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    time = FakeTime()
    budget = RequestBudget(0.1, clock=time.clock, sleep=time.sleep)  # one per 10 s
    runpod, sent = runpod_answering(budget, time)

    stop_gpu_job(runpod, "job-1", "rp-1")
    with caplog.at_level(logging.WARNING):
        stop_gpu_job(runpod, "job-2", "rp-2")  # the next token is 10 s away; the limit is 5 s

    assert [path for _, path in sent] == ["/v2/ep/cancel/rp-1"]
    assert "cancelling RunPod job rp-2 failed" in caplog.text
    assert time.now == 100.0  # it did not wait for nothing


def test_a_429_to_a_cancel_pauses_the_cancel_budget_for_its_retry_after() -> None:
    time = FakeTime()
    budget = RequestBudget(10.0, clock=time.clock, sleep=time.sleep)
    runpod, sent = runpod_answering(budget, time, status=429, retry_after="3")

    stop_gpu_job(runpod, "job-1", "rp-1")
    stop_gpu_job(runpod, "job-2", "rp-2")

    assert [when for when, _ in sent] == pytest.approx([100.0, 103.0])


def test_settlement_and_the_model_steps_share_one_cancel_budget_per_process() -> None:
    settings = Settings(runpod_api_key="k", runpod_cancels_per_s=3.0)

    async def status(job_id: str) -> RunPodJobState:
        raise AssertionError("not polled")

    settlement_side = RunPodService.from_settings(settings).cancel_budget
    step_side = PollScheduler.from_settings(settings, status).route_budgets[CANCEL_ROUTE]

    assert settlement_side is step_side
    assert settlement_side is not None
    assert settlement_side.per_s == 3.0
