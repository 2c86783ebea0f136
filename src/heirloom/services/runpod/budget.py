"""Request budgets for RunPod: token buckets, and the per-process budget of a rate-limited route.

RunPod limits some routes on their own, far below the endpoint's request rate (`/cancel`: 100
per 10 s per endpoint). Every `/cancel` a process sends takes a token from that process's one
cancel budget, whoever sends it: a model step through its poll scheduler (polls.py, on the
event loop) or settlement from a thread (`RunPodService.cancel`), so their sum keeps to
`runpod_cancels_per_s`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from heirloom.config import EndpointSettings

Clock = Callable[[], float]

# The share of a second's budget that may go at once (the token bucket's size).
BURST_SHARE = 0.1
# Float slack: a token refilled over exactly 1/per_s seconds counts as whole.
_EPSILON = 1e-9

# RunPod's routes with limits of their own, per endpoint (/run 1,000, /status 2,000 and
# /cancel 100 per 10 s).
RUN_ROUTE = "run"
STATUS_ROUTE = "status"
CANCEL_ROUTE = "cancel"


class RequestBudget:
    """At most `per_s` requests a second on average and a tenth of that at once (at least one),
    none while paused by a 429. Thread-safe: one process's threads and event loop may share it."""

    def __init__(
        self, per_s: float, *, clock: Clock, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        if per_s <= 0:
            raise ValueError("the request budget must be positive")
        self.per_s = per_s
        self.burst = max(1.0, per_s * BURST_SHARE)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._at = clock()
        self.paused_until = float("-inf")

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_s)
        self._at = now
        return now

    def take(self) -> bool:
        """Spend one request if the budget allows it now."""
        with self._lock:
            now = self._refill()
            if now < self.paused_until or self._tokens < 1 - _EPSILON:
                return False
            self._tokens -= 1
            return True

    def ready_at(self) -> float:
        """When the next request may go (now or later)."""
        with self._lock:
            now = self._refill()
            missing = max(0.0, 1 - _EPSILON - self._tokens)
            return max(now + missing / self.per_s, self.paused_until)

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds` (RunPod's Retry-After); a longer pause wins."""
        with self._lock:
            self.paused_until = max(self.paused_until, self._clock() + seconds)

    def give_back(self) -> None:
        """Return a token taken for a request that did not go after all."""
        with self._lock:
            self._tokens = min(self.burst, self._tokens + 1)

    def wait_for_token(self, longest_wait_s: float) -> bool:
        """Block the calling thread until a request may go and spend it; False, spending
        nothing, when that would take longer than `longest_wait_s` (for synchronous callers)."""
        deadline = self._clock() + longest_wait_s
        while not self.take():
            ready = self.ready_at()
            if ready > deadline:
                return False
            self._sleep(max(0.0, ready - self._clock()))
        return True


_shared: dict[tuple[str, float], RequestBudget] = {}
_shared_lock = threading.Lock()


def process_budget(route: str, per_s: float) -> RequestBudget:
    """This process's one budget for `route` at `per_s`, shared by every sender of it."""
    with _shared_lock:
        budget = _shared.get((route, per_s))
        if budget is None:
            budget = _shared[(route, per_s)] = RequestBudget(per_s, clock=time.monotonic)
        return budget


def endpoint_cancel_budget(endpoint: EndpointSettings) -> RequestBudget:
    """This process's one /cancel budget for an endpoint, shared by its model steps and
    settlement (the endpoint's cancel_per_10s)."""
    return process_budget(f"{CANCEL_ROUTE}@{endpoint.id}", endpoint.cancel_per_10s / 10)
