"""The GPU pool: a worker process's RunPod endpoints, their slots, health and request budgets.

Each endpoint of `Settings.gpu_endpoints` has its own client, its own poll scheduler within
its own budgets (/run, /status, /cancel per 10 s, and the process's request rate), its GPU
slots plus `gpu_prefetch_per_endpoint` jobs that wait at RunPod so a GPU starts the next job
the moment a run ends, its price and the tiers it serves. A model step takes a `Lease` on the
endpoint domain/endpoints.py chooses and keeps it until its RunPod job ended; a step that
resumes a recorded RunPod job leases the endpoint that job is on, whatever its state, so a job
never moves to a second endpoint while the first may still run it.

Polls are paced by when each job should end (`Lease.pace`): a job submitted behind busy GPUs
starts when the earliest of the runs ahead of it ends, then runs the endpoint's recent model
time; the handler's reported steps refine it. The first poll goes a margin after that end, the
margin learnt from how late the endpoint's recent runs ended against their estimate. So a job
costs its `/run` and one `/status`, instead of a poll every few hundred milliseconds.

The prefetched steps are admitted by time (`EndpointPool.admission_wait_s`, which the GPU
queue's worker asks through admission.py): a step beyond the GPU slots is taken from the GPU
queue only shortly before the run whose GPU it will take should end, so the job waiting at
RunPod when a GPU frees is the highest-priority one waiting then, not whichever job was first
when the slot freed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from heirloom.config import EndpointSettings, Settings
from heirloom.domain.endpoints import (
    Candidate,
    EndpointHealth,
    EndpointState,
    choose_endpoint,
    eligible,
)
from heirloom.domain.errors import ModelFailed, ModelUnavailable
from heirloom.services.runpod import metrics
from heirloom.services.runpod.budget import STATUS_ROUTE
from heirloom.services.runpod.client import HeldBack, RateLimited, RunPodJobState, RunPodService
from heirloom.services.runpod.polls import (
    PACED_LONGEST_WAIT_S,
    PollScheduler,
    Watch,
    expected_remaining_s,
)

log = logging.getLogger(__name__)

Clock = Callable[[], float]
ServiceOf = Callable[[str], RunPodService]

# A paced poll goes this long after the expected end (a share of the model time, at least the
# fixed part): late enough that the first poll usually finds the run ended.
PACE_MARGIN_S = 0.03
PACE_MARGIN_SHARE = 0.03
# Weight of the latest run in an endpoint's model time (an exponential moving average).
MODEL_TIME_WEIGHT = 0.2
# Once this many runs were seen ending, the margin is PACE_MARGIN_S past the LATENESS_QUANTILE
# of how late the last LATENESS_RUNS ended against the estimate their last poll was timed by
# (scaled by LATENESS_SLACK; all but the latest of 50, the latest while fewer): nearly every
# first poll finds its run ended, so a job costs one /status. At most LATENESS_CAP_SHARE of
# the model time, so a stall on the GPU side does not delay every end seen after it.
LATENESS_RUNS = 50
LATENESS_MIN_RUNS = 5
LATENESS_QUANTILE = 0.98
LATENESS_SLACK = 1.25
LATENESS_CAP_SHARE = 0.1
# The worker's own time from a model step's start to its /run: the last this many steps.
DISPATCH_SAMPLES = 40
DISPATCH_QUANTILE = 0.9


@dataclass(eq=False)
class Lease:
    """A model step's hold on one slot of one endpoint, until its RunPod job ended."""

    endpoint: PoolEndpoint
    key: int
    since: float
    # When its RunPod job should end; None until the endpoint's model time is known.
    expected_end: float | None = None
    # Whether its RunPod job is (believed) on a GPU.
    started: bool = False
    released: bool = field(default=False)
    # When this step's /run went out (None: a resumed job), and its poll's watch.
    submitted_at: float | None = None
    watch: Watch | None = None

    @property
    def endpoint_id(self) -> str:
        return self.endpoint.id

    def first_wait_s(self) -> float | None:
        """Seconds to the first poll of a job just submitted or resumed; None: poll soon."""
        endpoint = self.endpoint
        if not endpoint.paced:
            return None
        if endpoint.model_s is None:
            return endpoint.unknown_wait_s
        now = endpoint.clock()
        start, self.expected_end = endpoint.expected_span(self, now)
        self.started = start <= now
        return self.expected_end - now + endpoint.margin_s()

    def pace(self, answer: RunPodJobState | Exception) -> float | None:
        """Seconds to the next poll after this answer, from when the job should end."""
        endpoint = self.endpoint
        if not endpoint.paced or not isinstance(answer, RunPodJobState) or answer.terminal:
            return None
        now = endpoint.clock()
        model_s = endpoint.model_s
        if answer.status == "IN_QUEUE":
            if model_s is None:
                # The end of a run ahead of it re-times its next poll (next_started): until
                # then a poll would only find it queued again.
                ahead = [o for o in endpoint.leases.values() if o.key < self.key]
                if any(o.submitted_at is not None for o in ahead):
                    return PACED_LONGEST_WAIT_S
                return endpoint.unknown_wait_s
            self.started = False
            _, self.expected_end = endpoint.expected_span(self, now)
            return self.expected_end - now + endpoint.margin_s()
        self.started = True
        end: float | None = None
        if model_s is not None and self.submitted_at is not None and answer.delay_time_ms:
            # RunPod says when it started: it ends a model time later.
            end = self.submitted_at + answer.delay_time_ms / 1000 + model_s
        if end is None or end <= now:
            remaining = expected_remaining_s(answer)
            if remaining is None and model_s is not None:
                remaining = max(0.0, model_s - (answer.execution_time_ms or 0) / 1000)
            if remaining is None:
                return endpoint.unknown_wait_s
            end = now + remaining
        self.expected_end = end
        return end - now + endpoint.margin_s()


class PoolEndpoint:
    """One endpoint as this process sees it: configuration, client, polls, slots, health."""

    def __init__(
        self,
        config: EndpointSettings,
        *,
        service: Callable[[], RunPodService],
        polls: PollScheduler,
        health: EndpointHealth,
        prefetch: int,
        paced: bool,
        clock: Clock,
        unknown_wait_s: float = 0.5,
    ) -> None:
        self.config = config
        # A paced poll's wait while neither the endpoint's model time nor the handler's
        # steps say when the job ends (the first runs, loading): the longest poll interval.
        self.unknown_wait_s = unknown_wait_s
        self.id = config.id
        self.slots = config.gpu_slots
        self.capacity = config.gpu_slots + prefetch
        self.price_per_s_usd = config.price_per_s_usd or 0.0
        self.tiers = frozenset(tier.value for tier in config.tiers)
        self._service = service
        self.polls = polls
        self.health = health
        self.paced = paced
        self.clock = clock
        self.leases: dict[int, Lease] = {}
        self.model_s: float | None = None
        # How far runs stray from model_s (a moving mean of the absolute difference).
        self.model_dev_s = 0.0
        # How late recent runs ended after the end their last poll was timed for (seconds,
        # negative: earlier).
        self.lateness: deque[float] = deque(maxlen=LATENESS_RUNS)
        self.probing = False
        self.runs: dict[str, int] = {}

    @property
    def service(self) -> RunPodService:
        return self._service()

    def candidate(self) -> Candidate:
        return Candidate(
            id=self.id,
            price_per_s_usd=self.price_per_s_usd,
            tiers=self.tiers,
            free_slots=self.capacity - len(self.leases),
            state=self.health.state,
            trial_taken=self.health.trial_taken,
        )

    def margin_s(self) -> float:
        """How long after its expected end a job is polled: past how late nearly all recent
        runs ended against their estimate; before enough runs, a share of the model time and
        twice the runs' usual spread."""
        if len(self.lateness) >= LATENESS_MIN_RUNS:
            late = LATENESS_SLACK * max(0.0, quantile(self.lateness, LATENESS_QUANTILE))
            return PACE_MARGIN_S + min(late, LATENESS_CAP_SHARE * (self.model_s or 0.0))
        return PACE_MARGIN_S + PACE_MARGIN_SHARE * (self.model_s or 0.0) + 2 * self.model_dev_s

    def expected_span(self, lease: Lease, now: float) -> tuple[float, float]:
        """When a job should start and end: it starts once enough of the jobs leased before it
        ended to free a GPU (at their expected ends), then runs the endpoint's model time."""
        model_s = self.model_s or 0.0
        ahead = sorted(
            other.expected_end if other.expected_end is not None else now + model_s
            for other in self.leases.values()
            if other.key < lease.key and not other.released
        )
        start = now if len(ahead) < self.slots else max(ahead[len(ahead) - self.slots], now)
        return start, start + model_s

    def next_started(self, at: float, ended: Lease) -> None:
        """A run ended at `at`: the oldest job waiting at RunPod took its GPU then, so its end
        is a model time later; its next poll moves there."""
        if self.model_s is None:
            return
        waiting = [
            lease for lease in self.leases.values() if not lease.started and lease is not ended
        ]
        if not waiting:
            return
        lease = min(waiting, key=lambda waiting_lease: waiting_lease.key)
        lease.started = True
        lease.expected_end = at + self.model_s
        if lease.watch is not None:
            lease.watch.reschedule(lease.expected_end - self.clock() + self.margin_s())

    def observe_run(self, state: RunPodJobState) -> None:
        """Learn from a run that ended: its model time, and the endpoint's health."""
        self.runs[state.status] = self.runs.get(state.status, 0) + 1
        metrics.ENDPOINT_RUNS.labels(endpoint=self.id, status=state.status).inc()
        if state.status == "COMPLETED" and state.execution_time_ms:
            seconds = state.execution_time_ms / 1000
            if self.model_s is None:
                self.model_s = seconds
                return
            deviation = abs(seconds - self.model_s)
            self.model_dev_s += MODEL_TIME_WEIGHT * (deviation - self.model_dev_s)
            self.model_s += MODEL_TIME_WEIGHT * (seconds - self.model_s)


class EndpointPool:
    """A worker's endpoints on one event loop: leases, health, probes and each endpoint's polls."""

    def __init__(
        self,
        endpoints: Sequence[PoolEndpoint],
        *,
        clock: Clock = time.monotonic,
        unbounded: bool = False,
    ) -> None:
        if not endpoints:
            raise ValueError("the GPU pool has no endpoint")
        self.endpoints = {endpoint.id: endpoint for endpoint in endpoints}
        self.first = endpoints[0]
        self.clock = clock
        # A pool of one made for a bare model step: Temporal's slots are the only admission.
        self.unbounded = unbounded
        self._keys = itertools.count()
        self._changed = asyncio.Event()
        self._probes: set[asyncio.Task[None]] = set()
        # Seconds from a model step's start to its /run, the last DISPATCH_SAMPLES steps.
        self.dispatch_s: deque[float] = deque(maxlen=DISPATCH_SAMPLES)
        # Model steps whose run ended that are still storing its output.
        self.finishing = 0
        # How late admission's timed waits woke (the event loop's lag), the last few.
        self.wake_lag_s: deque[float] = deque(maxlen=DISPATCH_SAMPLES)
        for endpoint in endpoints:
            metrics.ENDPOINT_HEALTHY.labels(endpoint=endpoint.id).set(1)
            metrics.ENDPOINT_SLOTS.labels(endpoint=endpoint.id).set(endpoint.slots)

    @classmethod
    def from_settings(
        cls, settings: Settings, service_of: ServiceOf, *, clock: Clock = time.monotonic
    ) -> EndpointPool:
        """The pool of `settings.gpu_endpoints`; `service_of(id)` is looked up per request."""

        def endpoint(config: EndpointSettings) -> PoolEndpoint:
            def service() -> RunPodService:
                return service_of(config.id)

            async def status(job_id: str) -> RunPodJobState:
                return await service().status_async(job_id)

            return PoolEndpoint(
                config,
                service=service,
                polls=PollScheduler.from_settings(settings, status, config),
                health=EndpointHealth(
                    failures_to_unhealthy=settings.runpod_endpoint_failures,
                    cooldown_s=settings.runpod_endpoint_cooldown_s,
                ),
                prefetch=config.prefetch_or(settings.gpu_prefetch_per_endpoint),
                paced=settings.runpod_poll_by_expected_end,
                clock=clock,
                unknown_wait_s=settings.runpod_poll_interval_s,
            )

        # Without the GPU queue (the old design, a benchmark's baseline) tier slots admit.
        return cls(
            [endpoint(config) for config in settings.gpu_endpoints],
            clock=clock,
            unbounded=not settings.gpu_queue_enabled,
        )

    @classmethod
    def single(
        cls, settings: Settings, runpod: RunPodService, polls: PollScheduler
    ) -> EndpointPool:
        """A pool of one endpoint over a given client and poll scheduler, without a bound of
        its own (a model step built outside a worker)."""
        endpoint = PoolEndpoint(
            settings.gpu_endpoints[0],
            service=lambda: runpod,
            polls=polls,
            health=EndpointHealth(
                failures_to_unhealthy=settings.runpod_endpoint_failures,
                cooldown_s=settings.runpod_endpoint_cooldown_s,
            ),
            prefetch=settings.gpu_prefetch_per_endpoint,
            paced=settings.runpod_poll_by_expected_end,
            clock=time.monotonic,
            unknown_wait_s=settings.runpod_poll_interval_s,
        )
        return cls([endpoint], unbounded=True)

    def get(self, endpoint_id: str | None) -> PoolEndpoint:
        """An endpoint by id; a job recorded before the pool (no id) ran on the first one."""
        if endpoint_id is None:
            return self.first
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None:
            raise ModelUnavailable(
                f"RunPod endpoint {endpoint_id} holds this job's run but is not configured"
            )
        return endpoint

    async def acquire(
        self,
        tier: str,
        *,
        avoid: Sequence[str] = (),
        on_wait: Callable[[], None] | None = None,
        wait_s: float = 1.0,
    ) -> Lease:
        """A slot on the endpoint the rule picks for a new submission; waits for one (calling
        `on_wait` every `wait_s`) while none is free or every eligible endpoint is unhealthy."""
        candidates = [endpoint.candidate() for endpoint in self.endpoints.values()]
        if not eligible(candidates, tier):
            raise ModelFailed(f"No RunPod endpoint of the GPU pool runs {tier} jobs.")
        while True:
            self._start_due_probes()
            candidates = [endpoint.candidate() for endpoint in self.endpoints.values()]
            if self.unbounded:
                candidates = [
                    Candidate(c.id, c.price_per_s_usd, c.tiers, 1, EndpointState.HEALTHY)
                    for c in candidates
                ]
            chosen = choose_endpoint(candidates, tier, avoid=avoid)
            if chosen is not None:
                endpoint = self.endpoints[chosen]
                if endpoint.health.state is EndpointState.TRIAL:
                    endpoint.health.trial_taken = True
                return self._lease(endpoint)
            changed = self._changed
            try:
                async with asyncio.timeout(wait_s):
                    await changed.wait()
            except TimeoutError:
                if on_wait is not None:
                    on_wait()

    def attach(self, endpoint_id: str | None) -> Lease:
        """A slot on the endpoint a recorded RunPod job is on (over its capacity if need be:
        the job is there already)."""
        return self._lease(self.get(endpoint_id))

    def release(self, lease: Lease) -> None:
        """Give the slot back (the RunPod job ended or the step left)."""
        if lease.released:
            return
        lease.released = True
        lease.endpoint.leases.pop(lease.key, None)
        metrics.ENDPOINT_IN_FLIGHT.labels(endpoint=lease.endpoint_id).set(
            len(lease.endpoint.leases)
        )
        self._notify()

    def move(self, lease: Lease, endpoint_id: str) -> Lease:
        """The step now follows a RunPod job on another endpoint (a claimant found there)."""
        if endpoint_id == lease.endpoint_id:
            return lease
        self.release(lease)
        return self._lease(self.get(endpoint_id))

    def run_ended(self, lease: Lease, state: RunPodJobState) -> None:
        """A leased RunPod job ended: learn its model time and how late it ended against its
        estimate; a failed run counts against the endpoint's health, a completed one for it."""
        endpoint = lease.endpoint
        endpoint.observe_run(state)
        if lease.submitted_at is not None and state.delay_time_ms is not None:
            ran_ms = state.delay_time_ms + (state.execution_time_ms or 0)
            ended_at = lease.submitted_at + ran_ms / 1000
            if state.status == "COMPLETED" and lease.expected_end is not None:
                endpoint.lateness.append(ended_at - lease.expected_end)
            endpoint.next_started(ended_at, lease)
        if state.status == "COMPLETED":
            self.request_ok(endpoint)
        elif state.status in ("FAILED", "TIMED_OUT"):
            self.request_failed(endpoint, f"a run ended {state.status}")

    def request_ok(self, endpoint: PoolEndpoint) -> None:
        was = endpoint.health.state
        endpoint.health.succeeded()
        if was is not EndpointState.HEALTHY:
            log.info("RunPod endpoint %s is healthy again", endpoint.id)
            metrics.ENDPOINT_HEALTHY.labels(endpoint=endpoint.id).set(1)
            self._notify()

    def request_failed(self, endpoint: PoolEndpoint, why: str) -> None:
        """A failed request or run; enough in a row mark the endpoint unhealthy."""
        if endpoint.health.failed(self.clock()):
            log.warning(
                "RunPod endpoint %s is unhealthy after %d failures (last: %s); no new jobs for "
                "%.0f s",
                endpoint.id,
                endpoint.health.failures,
                why,
                endpoint.health.cooldown_s,
            )
            metrics.ENDPOINT_HEALTHY.labels(endpoint=endpoint.id).set(0)
            self._notify()

    def observe_error(self, endpoint: PoolEndpoint, err: Exception) -> None:
        """A request's error: a transport error or 5xx counts against the endpoint; a 429, a
        4xx or a wait for one of this process's connections does not (the budget, the request
        or this worker is at fault)."""
        if isinstance(err, RateLimited | HeldBack):
            return
        if isinstance(err, ModelUnavailable):
            self.request_failed(endpoint, str(err))

    async def locate(self, runpod_job_id: str, first: PoolEndpoint) -> PoolEndpoint:
        """The endpoint that knows a RunPod job (a claimant), asking `first` first."""
        if len(self.endpoints) == 1:
            return first
        for endpoint in (first, *(e for e in self.endpoints.values() if e is not first)):
            if await self._knows(endpoint, runpod_job_id):
                return endpoint
        return first

    @staticmethod
    async def _knows(endpoint: PoolEndpoint, runpod_job_id: str) -> bool:
        try:
            await endpoint.polls.call(
                lambda: endpoint.service.status_async(runpod_job_id), route=STATUS_ROUTE
            )
        except ModelFailed:  # 404: not this endpoint's job
            return False
        return True

    def admission_wait_s(self, admitted: int, limit: int, lead_s: float) -> float | None:
        """Seconds until the GPU queue's worker, holding `admitted` model steps, may take one
        more (0: now); None: not before one ends (`limit` reached, the steps storing their
        run's output not counted).

        While a GPU slot is free: now. Beyond the slots, the step is prefetched for the GPU
        that frees next after those the steps already waiting will take: it is admitted
        `lead_s`, the worker's recent time from a step's start to its /run, its event loop's
        lag and twice the runs' spread before that run's expected end, so whatever the GPU
        queue holds then, highest priority first, waits at RunPod when the GPU frees. Now, too,
        while an end is unknown (no model time learnt yet, a run without an estimate)."""
        # A step storing the output of a run that ended holds a slot but no GPU.
        admitted = max(0, admitted - self.finishing)
        if admitted >= limit:
            return None
        slots = sum(endpoint.slots for endpoint in self.endpoints.values())
        if admitted < slots:
            return 0.0
        ends: list[float] = []
        spread = 0.0
        for endpoint in self.endpoints.values():
            if endpoint.model_s is None:
                return 0.0
            spread = max(spread, endpoint.model_dev_s)
            for lease in endpoint.leases.values():
                if not lease.started or lease.released:
                    continue
                if lease.expected_end is None:
                    return 0.0
                ends.append(lease.expected_end)
        waiting = max(0, admitted - min(len(ends), slots))
        if waiting >= len(ends):
            return 0.0
        frees_at = heapq.nsmallest(waiting + 1, ends)[-1]
        dispatch = quantile(self.dispatch_s, DISPATCH_QUANTILE) if self.dispatch_s else 0.0
        if self.wake_lag_s:
            dispatch += quantile(self.wake_lag_s, DISPATCH_QUANTILE)
        return max(0.0, frees_at - (lead_s + dispatch + 2 * spread) - self.clock())

    def note_dispatch(self, seconds: float) -> None:
        """A model step's /run went out `seconds` after the step started."""
        self.dispatch_s.append(seconds)

    def wake(self) -> None:
        """Something admission waits on changed (a step left the worker)."""
        self._notify()

    async def changed(self, timeout_s: float) -> None:
        """Return when a slot is released or an endpoint's state changes, or after
        `timeout_s`; how much later than that a timed-out wait woke is the event loop's lag,
        which admission adds to its lead."""
        changed = self._changed
        loop = asyncio.get_running_loop()
        due = loop.time() + timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                await changed.wait()
        except TimeoutError:
            self.wake_lag_s.append(max(0.0, loop.time() - due))

    def _lease(self, endpoint: PoolEndpoint) -> Lease:
        lease = Lease(endpoint=endpoint, key=next(self._keys), since=self.clock())
        endpoint.leases[lease.key] = lease
        metrics.ENDPOINT_IN_FLIGHT.labels(endpoint=endpoint.id).set(len(endpoint.leases))
        return lease

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _start_due_probes(self) -> None:
        now = self.clock()
        for endpoint in self.endpoints.values():
            if endpoint.probing or not endpoint.health.probe_due(now):
                continue
            endpoint.probing = True
            task = asyncio.get_running_loop().create_task(self._probe(endpoint))
            self._probes.add(task)
            task.add_done_callback(self._probes.discard)

    async def _probe(self, endpoint: PoolEndpoint) -> None:
        """Ask an unhealthy endpoint's /health whether it is back; if so, one job tries it."""
        try:
            await asyncio.to_thread(endpoint.service.health)
        except Exception as err:  # any failure: another cooldown
            log.info("RunPod endpoint %s probe failed: %s", endpoint.id, err)
            answered = False
        else:
            answered = True
        finally:
            endpoint.probing = False
        endpoint.health.probed(self.clock(), answered=answered)
        if answered:
            log.info("RunPod endpoint %s answered its probe: one job tries it", endpoint.id)
        self._notify()

    def status(self) -> list[EndpointStatus]:
        """Each endpoint's state now, for logs and benches."""
        return [
            EndpointStatus(
                id=e.id,
                state=e.health.state.value,
                in_flight=len(e.leases),
                capacity=e.capacity,
                model_s=e.model_s,
                runs=dict(e.runs),
                polls=e.polls.requests,
                marked_unhealthy=e.health.marked_unhealthy,
            )
            for e in self.endpoints.values()
        ]


def quantile(values: Iterable[float], q: float) -> float:
    """The `q` quantile of some values (the nearest rank at or above it)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


@dataclass(frozen=True)
class EndpointStatus:
    id: str
    state: str
    in_flight: int
    capacity: int
    model_s: float | None
    runs: dict[str, int]
    polls: int
    marked_unhealthy: int


class EndpointPools:
    """A worker's pools: one per event loop (each poll scheduler is bound to its loop)."""

    def __init__(self, settings: Settings, service_of: ServiceOf) -> None:
        self._settings = settings
        self._service_of = service_of
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EndpointPool] = (
            weakref.WeakKeyDictionary()
        )

    def current(self) -> EndpointPool:
        loop = asyncio.get_running_loop()
        pool = self._by_loop.get(loop)
        if pool is None:
            pool = EndpointPool.from_settings(self._settings, self._service_of)
            self._by_loop[loop] = pool
        return pool
