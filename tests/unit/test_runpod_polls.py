"""The poll scheduler's bookkeeping on a hand-driven clock: spacing within the request budget,
each job's own pace, and the pause after a 429 (no sleeps); and a cancel that meets an answer."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from heirloom.services.runpod.budget import CANCEL_ROUTE, RequestBudget
from heirloom.services.runpod.client import RunPodJobState, retry_after_s
from heirloom.services.runpod.polls import (
    FIRST_POLL_WAIT_S,
    PollPlan,
    PollScheduler,
    Watch,
    expected_remaining_s,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def plan_with(per_s: float, *, longest_wait_s: float = 0.5) -> tuple[PollPlan, FakeClock]:
    clock = FakeClock()
    return PollPlan(
        RequestBudget(per_s, clock=clock), longest_wait_s=longest_wait_s, clock=clock
    ), clock


def watch(plan: PollPlan, clock: FakeClock, key: int) -> None:
    """Watch a job and let its first wait pass."""
    plan.add(key, f"rp-{key}")
    clock.advance(FIRST_POLL_WAIT_S)


def test_the_budget_sends_a_tenth_of_a_second_at_once_then_spaces_the_rest() -> None:
    clock = FakeClock()
    budget = RequestBudget(50, clock=clock)

    assert [budget.take() for _ in range(6)] == [True] * 5 + [False]
    assert budget.ready_at() == pytest.approx(clock.now + 1 / 50)
    clock.advance(1 / 50)
    assert budget.take()
    assert not budget.take()


def test_the_budget_holds_over_any_second() -> None:
    clock = FakeClock()
    budget = RequestBudget(20, clock=clock)
    sent: list[float] = []
    for _ in range(1000):  # a greedy sender asking every millisecond for one second
        if budget.take():
            sent.append(clock.now)
        clock.advance(0.001)

    # 20 a second plus the two-request bucket it started with.
    assert len(sent) <= 20 + 2
    assert len(sent) >= 20


def test_a_small_budget_still_sends_one_at_a_time() -> None:
    clock = FakeClock()
    budget = RequestBudget(2, clock=clock)

    assert budget.take()
    assert not budget.take()
    assert budget.ready_at() == pytest.approx(clock.now + 0.5)


def test_a_pause_stops_every_request_until_it_ends_and_the_longer_pause_wins() -> None:
    clock = FakeClock()
    budget = RequestBudget(100, clock=clock)
    budget.pause(3)
    budget.pause(1)

    assert not budget.take()
    assert budget.ready_at() == pytest.approx(clock.now + 3)
    clock.advance(2.999)
    assert not budget.take()
    clock.advance(0.002)
    assert budget.take()


def test_a_job_is_polled_soon_then_at_a_growing_interval_up_to_the_longest() -> None:
    plan, clock = plan_with(100, longest_wait_s=0.1)
    plan.add(1, "rp-1")
    assert plan.take_due() == []  # just submitted: not done yet
    assert plan.next_wake() == pytest.approx(clock.now + FIRST_POLL_WAIT_S)
    clock.advance(FIRST_POLL_WAIT_S)

    waits: list[float] = []
    for _ in range(8):
        assert plan.take_due() == [(1, "rp-1")]
        plan.answered(1)
        assert plan.take_due() == []  # not due again before its wait
        wake = plan.next_wake()
        assert wake is not None
        waits.append(wake - clock.now)
        clock.advance(wake - clock.now)

    assert waits[0] == pytest.approx(FIRST_POLL_WAIT_S * 1.5)
    assert waits == sorted(waits)
    assert waits[-1] == pytest.approx(0.1)


def test_a_job_with_a_poll_on_the_wire_is_not_polled_again() -> None:
    plan, clock = plan_with(100)
    watch(plan, clock, 1)

    assert plan.take_due() == [(1, "rp-1")]
    assert plan.polling(1)
    clock.advance(10)
    assert plan.take_due() == []
    assert plan.next_wake() is None  # nothing waits: the answer wakes the scheduler


def test_due_polls_go_out_oldest_first_within_the_budget() -> None:
    plan, clock = plan_with(20)  # two at once, then one every 50 ms
    for key in range(5):
        plan.add(key, f"rp-{key}")
        clock.advance(0.001)
    clock.advance(FIRST_POLL_WAIT_S)

    assert [key for key, _ in plan.take_due()] == [0, 1]
    assert plan.take_due() == []
    wake = plan.next_wake()
    assert wake == pytest.approx(clock.now + 0.05)
    clock.advance(0.05)
    assert [key for key, _ in plan.take_due()] == [2]


def test_polling_cost_follows_the_jobs_watched_not_the_budget() -> None:
    plan, clock = plan_with(1000, longest_wait_s=0.5)
    for key in range(4):
        plan.add(key, f"rp-{key}")
    polls = 0
    for _ in range(10_000):  # ten seconds in 1 ms steps, answers coming back at once
        for key, _ in plan.take_due():
            polls += 1
            plan.answered(key)
        clock.advance(0.001)

    # Four jobs at one poll each half second, after a few quick first polls each.
    assert polls <= 4 * (10 / 0.5 + 8)


def test_a_429_pauses_everything_and_the_limited_job_goes_first_after() -> None:
    plan, clock = plan_with(100)
    plan.add(1, "rp-1")
    clock.advance(0.001)
    watch(plan, clock, 2)
    assert [key for key, _ in plan.take_due()] == [1, 2]
    plan.answered(2)

    plan.rate_limited(1, 2.0)

    assert not plan.polling(1)
    assert plan.next_wake() == pytest.approx(clock.now + 2.0)
    clock.advance(1.9)
    assert plan.take_due() == []
    clock.advance(0.2)
    assert [key for key, _ in plan.take_due()] == [1, 2]


def test_a_removed_job_is_never_polled_and_its_late_answer_is_ignored() -> None:
    plan, clock = plan_with(100)
    watch(plan, clock, 1)
    assert plan.take_due() == [(1, "rp-1")]

    plan.remove(1)
    plan.answered(1)

    assert len(plan) == 0
    assert plan.take_due() == []
    assert plan.next_wake() is None


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0.5", 0.5), ("-2", 0.0), (None, None), ("soon", None)],
)
def test_retry_after_is_read_as_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after_s(header) == seconds


def test_retry_after_as_a_past_http_date_means_now() -> None:
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def in_progress(step: int, total: int, elapsed_ms: int, stage: str = "denoising") -> RunPodJobState:
    return RunPodJobState(
        job_id="rp-1",
        status="IN_PROGRESS",
        output={"stage": stage, "step": step, "total": total},
        error=None,
        delay_time_ms=0,
        execution_time_ms=elapsed_ms,
    )


def test_the_models_progress_predicts_when_it_ends() -> None:
    # Five and a half steps of twenty in 1.1 s: 2.9 s to go.
    assert expected_remaining_s(in_progress(5, 20, 1100)) == pytest.approx(2.9)
    assert expected_remaining_s(in_progress(20, 20, 2000)) == 0.0
    assert expected_remaining_s(in_progress(0, 20, 50)) is None  # no step done yet
    queued = RunPodJobState("rp-1", "IN_QUEUE", None, None, None, None)
    assert expected_remaining_s(queued) is None


def test_a_model_about_to_end_is_polled_when_it_should_be_done_not_a_full_interval_later() -> None:
    plan, clock = plan_with(100, longest_wait_s=0.5)
    watch(plan, clock, 1)
    assert plan.take_due() == [(1, "rp-1")]

    plan.answered(1, remaining_s=0.12)
    assert plan.next_wake() == pytest.approx(clock.now + 0.12)

    clock.advance(0.12)
    assert plan.take_due() == [(1, "rp-1")]
    plan.answered(1, remaining_s=30.0)  # a long way to go: the longest wait still holds
    assert plan.next_wake() == pytest.approx(clock.now + 0.5)


async def test_a_cancel_that_meets_a_polls_answer_still_cancels_the_waiting_model_step() -> None:
    """Temporal cancels a model step once. On Python 3.11, `asyncio.wait_for` returned the
    answer instead when the cancel arrived as the answer did, and the step polled on with its
    workflow cancelled (seen under load: a cancelled job `processing` for minutes)."""

    async def never(_job_id: str) -> RunPodJobState:
        raise AssertionError("no poll in this test")

    scheduler = PollScheduler(never, requests_per_s=10, longest_wait_s=1.0)
    watch = Watch(scheduler, 0, "runpod-1")
    waiting = asyncio.create_task(watch.next(60))
    await asyncio.sleep(0)  # the step waits for the next answer
    answer = RunPodJobState("runpod-1", "IN_PROGRESS", None, None, None, 1000)
    watch.deliver(answer)
    waiting.cancel()  # in the same turn of the loop as the answer
    with pytest.raises(asyncio.CancelledError):
        await waiting
    # The answer is not lost either: a step that goes on reads it next.
    assert await watch.next(0.1) == answer


async def test_cancels_keep_to_their_own_route_limit_without_holding_back_other_requests() -> None:
    """RunPod allows far fewer /cancel than /run or /status: cancels wait for their own
    budget, and a submission behind them still goes at once."""

    async def never(_job_id: str) -> RunPodJobState:
        raise AssertionError("no poll in this test")

    scheduler = PollScheduler(never, requests_per_s=1000, longest_wait_s=1.0, cancels_per_s=5)
    sent: list[tuple[str, float]] = []
    start = asyncio.get_running_loop().time()

    async def request(kind: str) -> None:
        sent.append((kind, asyncio.get_running_loop().time() - start))

    cancels = [scheduler.call(lambda: request("cancel"), route=CANCEL_ROUTE) for _ in range(4)]
    runs = [scheduler.call(lambda: request("run")) for _ in range(4)]
    await asyncio.gather(*cancels, *runs)

    cancel_times = [at for kind, at in sent if kind == "cancel"]
    run_times = [at for kind, at in sent if kind == "run"]
    assert len(cancel_times) == len(run_times) == 4
    # Five a second, one at a time: four cancels span at least 0.6 s.
    assert cancel_times[-1] - cancel_times[0] >= 0.55
    gaps = [b - a for a, b in itertools.pairwise(cancel_times)]
    assert min(gaps) >= 0.15
    # The submissions did not queue behind the cancels.
    assert max(run_times) < 0.1
