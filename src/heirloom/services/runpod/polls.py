"""The poll scheduler: one per worker process, it spends a request budget on RunPod.

Model steps do not poll RunPod themselves. Each one watches its RunPod job through the worker's
`PollScheduler`, which polls every watched job at its own pace (promptly at first, then
every `runpod_poll_interval_s`, or when the handler's reported denoising steps say it will
finish), issues the polls that are due in one tick concurrently, never
faster than `runpod_requests_per_s` over all of them (a token bucket holding a tenth of a
second's budget), and on a 429 pauses every request of the process for RunPod's Retry-After.
Submissions, resumes and cancels take their tokens from the same budget (`call`); a route
with a tighter RunPod limit of its own (`/cancel`: 100 per 10 s) also takes one from its
route's budget, which is the process's one budget for that route (budget.py). Only jobs a
model step is waiting on are polled, and a model step runs only with a GPU slot, so the
polling cost follows the jobs on GPUs, not the backlog in the GPU queue.

RunPod has no batch status operation (one `/status/{id}` per job), so "batching" here is
issuing the polls due at one tick together.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from heirloom.config import EndpointSettings, Settings
from heirloom.domain.model_progress import ModelReport, ModelStage
from heirloom.services.runpod.budget import (
    CANCEL_ROUTE,
    RUN_ROUTE,
    STATUS_ROUTE,
    RequestBudget,
    endpoint_cancel_budget,
)
from heirloom.services.runpod.client import RateLimited, RunPodJobState

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]

# The first wait between a job's polls; it grows by half each poll up to the longest.
FIRST_POLL_WAIT_S = 0.02
# A paced watch (its model step says when its job should end) is still polled at least this
# often, in case the estimate is far off.
PACED_LONGEST_WAIT_S = 30.0

# A paced watch's pace: the seconds until its next poll after an answer (a state or an error);
# None: the plan's own growing waits.
Pace = Callable[["RunPodJobState | Exception"], "float | None"]


@dataclass
class _Watched:
    runpod_job_id: str
    due: float
    wait: float
    polling: bool = False


class PollPlan:
    """Which watched jobs to poll when: each at its own pace, in the order they fell due,
    within the budget. Pure bookkeeping over an injected clock."""

    def __init__(
        self,
        budget: RequestBudget,
        *,
        longest_wait_s: float,
        clock: Clock,
        first_wait_s: float = FIRST_POLL_WAIT_S,
        status_budget: RequestBudget | None = None,
    ) -> None:
        self.budget = budget
        # The endpoint's own /status limit, taken besides the shared budget.
        self.status_budget = status_budget
        self.longest_wait_s = longest_wait_s
        self.first_wait_s = min(first_wait_s, longest_wait_s)
        self._clock = clock
        self._watched: dict[int, _Watched] = {}

    def __len__(self) -> int:
        return len(self._watched)

    def add(self, key: int, runpod_job_id: str, first_wait_s: float | None = None) -> None:
        """Watch a job; its first poll is due after `first_wait_s` (when it should end), or
        after the first wait (a job just submitted or resumed has not ended yet)."""
        first = self.first_wait_s if first_wait_s is None else max(first_wait_s, 0.0)
        self._watched[key] = _Watched(
            runpod_job_id, due=self._clock() + first, wait=self.first_wait_s * 1.5
        )

    def remove(self, key: int) -> None:
        self._watched.pop(key, None)

    def reschedule(self, key: int, wait_s: float) -> None:
        """Move a watched job's next poll to `wait_s` from now (unless one is on the wire)."""
        watched = self._watched.get(key)
        if watched is None or watched.polling:
            return
        watched.due = self._clock() + min(max(wait_s, self.first_wait_s), PACED_LONGEST_WAIT_S)

    def polling(self, key: int) -> bool:
        """Whether a poll for this watch is on the wire."""
        watched = self._watched.get(key)
        return watched is not None and watched.polling

    def take_due(self) -> list[tuple[int, str]]:
        """The (key, RunPod job id) pairs to poll now, oldest due first, as the budget allows."""
        now = self._clock()
        due = sorted(
            (w.due, key) for key, w in self._watched.items() if not w.polling and w.due <= now
        )
        taken: list[tuple[int, str]] = []
        for _, key in due:
            status_budget = self.status_budget
            if status_budget is not None and not status_budget.take():
                break
            if not self.budget.take():
                if status_budget is not None:
                    status_budget.give_back()
                break
            watched = self._watched[key]
            watched.polling = True
            taken.append((key, watched.runpod_job_id))
        return taken

    def answered(
        self, key: int, remaining_s: float | None = None, *, paced_s: float | None = None
    ) -> None:
        """A poll came back (with a state or an error). A paced watch's next poll is due when
        its step expects the job to end (`paced_s`, up to PACED_LONGEST_WAIT_S). Else, with
        the model's expected remaining time, the next poll is due when the model should be
        done (within the first and the longest wait); without, after a wait that grows by half
        up to the longest, so short jobs finish between early polls."""
        watched = self._watched.get(key)
        if watched is None:
            return
        watched.polling = False
        if paced_s is not None:
            watched.due = self._clock() + min(max(paced_s, self.first_wait_s), PACED_LONGEST_WAIT_S)
            return
        if remaining_s is not None:
            wait = min(max(remaining_s, self.first_wait_s), self.longest_wait_s)
            watched.due = self._clock() + wait
            return
        watched.due = self._clock() + watched.wait
        watched.wait = min(watched.wait * 1.5, self.longest_wait_s)

    def rate_limited(self, key: int, pause_s: float) -> None:
        """A poll answered 429: everything waits `pause_s`, then this job is polled first."""
        self.budget.pause(pause_s)
        if self.status_budget is not None:
            self.status_budget.pause(pause_s)
        watched = self._watched.get(key)
        if watched is not None:
            watched.polling = False

    def next_wake(self) -> float | None:
        """When a poll may next fall due; None when nothing waits for one."""
        waiting = [w.due for w in self._watched.values() if not w.polling]
        if not waiting:
            return None
        ready = self.budget.ready_at()
        if self.status_budget is not None:
            ready = max(ready, self.status_budget.ready_at())
        return max(min(waiting), ready)


def expected_remaining_s(state: RunPodJobState) -> float | None:
    """How long the handler should still run, from its progress (domain/model_progress.py).

    During denoising: step k of n after the execution time so far (k counts whole steps, so
    the model is half a step further on average). Once the model has finished (decoding,
    uploading): about one step's time more. Before the first step (loading, encoding) and
    when it cannot say: None, so the waits between polls grow instead of following a step
    rate nobody has measured yet.
    """
    report = ModelReport.from_dict(state.output) if state.status == "IN_PROGRESS" else None
    elapsed_ms = state.execution_time_ms
    if report is None or not elapsed_ms:
        return None
    elapsed_s = elapsed_ms / 1000
    if report.model_finished:
        return elapsed_s / (report.total + 1)
    if report.stage is not ModelStage.DENOISING or not 0 < report.step <= report.total:
        return None
    step, total = report.step, report.total
    return max(0.0, elapsed_s * (total - step - 0.5) / (step + 0.5))


class Watch:
    """One model step's view of its RunPod job: each poll's answer, in order."""

    def __init__(
        self, scheduler: PollScheduler, key: int, runpod_job_id: str, pace: Pace | None = None
    ) -> None:
        self.runpod_job_id = runpod_job_id
        self.pace = pace
        self._scheduler = scheduler
        self._key = key
        self._answers: asyncio.Queue[RunPodJobState | Exception] = asyncio.Queue()

    @property
    def polling(self) -> bool:
        """A poll is on the wire; otherwise the scheduler is holding the next one back."""
        return self._scheduler.plan.polling(self._key)

    def reschedule(self, wait_s: float) -> None:
        """Poll next `wait_s` from now: its job's end became clearer."""
        self._scheduler.plan.reschedule(self._key, wait_s)
        self._scheduler.wake()

    async def next(self, timeout_s: float) -> RunPodJobState | None:
        """The next poll's state (raising its error); None if none came within `timeout_s`.

        `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` returns the answer when a
        cancel arrives as the answer does, and Temporal cancels a model step only once.
        """
        try:
            async with asyncio.timeout(timeout_s):
                answer = await self._answers.get()
        except TimeoutError:
            return None
        if isinstance(answer, Exception):
            raise answer
        return answer

    def deliver(self, answer: RunPodJobState | Exception) -> None:
        self._answers.put_nowait(answer)


class PollScheduler:
    """Polls the RunPod jobs this worker's model steps wait on, within one request budget.

    Bound to the event loop it is first used on; its loop task runs only while something is
    watched or waits for the budget.
    """

    def __init__(
        self,
        status: Callable[[str], Awaitable[RunPodJobState]],
        *,
        requests_per_s: float,
        longest_wait_s: float,
        default_pause_s: float = 1.0,
        longest_pause_s: float = 60.0,
        cancels_per_s: float | None = None,
        cancel_budget: RequestBudget | None = None,
        route_budgets: dict[str, RequestBudget] | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._status = status
        # Each route's own budget, taken besides the shared one (an endpoint's /run, /status
        # and /cancel limits); /cancel's is `cancel_budget` when given (the process's, shared
        # with settlement's cancels), else one of `cancels_per_s`.
        self.route_budgets: dict[str, RequestBudget] = dict(route_budgets or {})
        self.plan = PollPlan(
            RequestBudget(requests_per_s, clock=clock),
            longest_wait_s=longest_wait_s,
            clock=clock,
            status_budget=self.route_budgets.get(STATUS_ROUTE),
        )
        if cancel_budget is not None:
            self.route_budgets[CANCEL_ROUTE] = cancel_budget
        elif cancels_per_s is not None:
            self.route_budgets[CANCEL_ROUTE] = RequestBudget(cancels_per_s, clock=clock)
        self.default_pause_s = default_pause_s
        self.longest_pause_s = longest_pause_s
        self._clock = clock
        self._keys = itertools.count()
        self._watches: dict[int, Watch] = {}
        self._callers: deque[tuple[asyncio.Future[None], str | None]] = deque()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._polls: set[asyncio.Task[None]] = set()
        self.requests = 0
        self.rate_limited = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        status: Callable[[str], Awaitable[RunPodJobState]],
        endpoint: EndpointSettings | None = None,
    ) -> PollScheduler:
        """The scheduler of one endpoint (default: the pool's first) within its budgets."""
        endpoint = endpoint or settings.gpu_endpoints[0]
        return cls(
            status,
            requests_per_s=settings.runpod_requests_per_s,
            longest_wait_s=settings.runpod_poll_interval_s,
            default_pause_s=settings.runpod_rate_limit_pause_s,
            longest_pause_s=settings.runpod_rate_limit_longest_pause_s,
            cancel_budget=endpoint_cancel_budget(endpoint),
            route_budgets={
                RUN_ROUTE: RequestBudget(endpoint.run_per_10s / 10, clock=time.monotonic),
                STATUS_ROUTE: RequestBudget(endpoint.status_per_10s / 10, clock=time.monotonic),
            },
        )

    @contextlib.asynccontextmanager
    async def watch(
        self, runpod_job_id: str, *, pace: Pace | None = None, first_wait_s: float | None = None
    ) -> AsyncIterator[Watch]:
        """Poll `runpod_job_id` for the caller until it leaves the block: first after
        `first_wait_s` (default: at once, nearly), then as `pace` says (default: growing)."""
        key = next(self._keys)
        watch = Watch(self, key, runpod_job_id, pace)
        self._watches[key] = watch
        self.plan.add(key, runpod_job_id, first_wait_s)
        self._kick()
        try:
            yield watch
        finally:
            self._watches.pop(key, None)
            self.plan.remove(key)

    async def call(
        self,
        request: Callable[[], Awaitable[T]],
        *,
        on_wait: Callable[[], None] | None = None,
        wait_s: float = 1.0,
        route: str | None = None,
    ) -> T:
        """Send one request within the budget (and its `route`'s own, if it has one); after a
        429, pause everything and send it again.

        `on_wait` runs every `wait_s` while the request is held back (a model step heartbeats).
        """
        while True:
            granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            caller = (granted, route)
            self._callers.append(caller)
            self._kick()
            try:
                while True:
                    done, _ = await asyncio.wait({granted}, timeout=wait_s)
                    if done:
                        break
                    if on_wait is not None:
                        on_wait()
            finally:
                if not granted.done():
                    granted.cancel()
                    self._callers.remove(caller)
            self.requests += 1
            try:
                return await request()
            except RateLimited as err:
                self.plan.budget.pause(self._pause_for(err))

    def _pause_for(self, err: RateLimited) -> float:
        """How long a 429 holds every request back: its Retry-After, within bounds."""
        self.rate_limited += 1
        pause = err.retry_after_s if err.retry_after_s is not None else self.default_pause_s
        pause = min(pause, self.longest_pause_s)
        log.warning("RunPod answered 429: every request of this worker waits %.1f s", pause)
        return pause

    def wake(self) -> None:
        """Look at the plan again (a due time moved)."""
        self._wake.set()

    def _kick(self) -> None:
        self._wake.set()
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._watches or self._callers:
            self._wake.clear()
            # Submissions and cancels first: a waiting GPU job outranks another status poll.
            self._grant_callers()
            if not self._callers:
                for key, runpod_job_id in self.plan.take_due():
                    task = asyncio.create_task(self._poll(key, runpod_job_id))
                    self._polls.add(task)
                    task.add_done_callback(self._polls.discard)
            wake_at = self._callers_ready_at() if self._callers else self.plan.next_wake()
            timeout = None if wake_at is None else max(0.0, wake_at - self._clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _grant_callers(self) -> None:
        """Let waiting requests go in order, as the shared budget and their routes' allow; a
        request held back by its route's budget does not hold back the others."""
        for caller in list(self._callers):
            granted, route = caller
            route_budget = self.route_budgets.get(route) if route is not None else None
            if route_budget is not None and not route_budget.take():
                continue
            if not self.plan.budget.take():
                if route_budget is not None:
                    route_budget.give_back()
                return
            self._callers.remove(caller)
            if not granted.done():
                granted.set_result(None)

    def _callers_ready_at(self) -> float:
        """When the next waiting request may go."""
        shared = self.plan.budget.ready_at()
        soonest = min(
            (
                self.route_budgets[route].ready_at()
                for _, route in self._callers
                if route in self.route_budgets
            ),
            default=shared,
        )
        if any(route not in self.route_budgets for _, route in self._callers):
            soonest = shared
        return max(shared, soonest)

    async def _poll(self, key: int, runpod_job_id: str) -> None:
        self.requests += 1
        answer: RunPodJobState | Exception
        try:
            answer = await self._status(runpod_job_id)
        except RateLimited as err:
            self.plan.rate_limited(key, self._pause_for(err))
            self._wake.set()
            return
        except Exception as err:  # delivered to the model step, which decides
            answer = err
        remaining = expected_remaining_s(answer) if isinstance(answer, RunPodJobState) else None
        watch = self._watches.get(key)
        paced = watch.pace(answer) if watch is not None and watch.pace is not None else None
        self.plan.answered(key, remaining, paced_s=paced)
        if watch is not None:
            watch.deliver(answer)
        self._wake.set()
