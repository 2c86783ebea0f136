"""Rate limits and shared counters on the `limits` library: in process, or in Redis when set.

Budgets use the moving-window strategy, so "N per window" holds for every window, not only
for aligned ones. With HEIRLOOM_REDIS_URL every API process shares the same budgets.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from heirloom.config import Settings


@lru_cache(maxsize=256)
def parse_limit(text: str) -> RateLimitItem:
    """'30/minute', '5 per second', '10/10 minutes' -> a limits item (cached)."""
    return parse(text)


def once_per(item: RateLimitItem) -> RateLimitItem:
    """A budget of one over the same window as `item`: "the first time in this window"."""
    return RateLimitItemPerSecond(1, item.get_expiry())


# How often the in-process storage drops expired entries (memory only: every check reads the
# entries' own times, so an entry kept longer never changes a verdict).
PRUNE_EVERY_S = 1.0


class PrunedMemoryStorage(MemoryStorage):
    """limits' in-process storage, pruned by the request that finds a second gone by.

    MemoryStorage starts a 10 ms timer thread on every write that finds none alive: under
    steady traffic that is a new thread per request, about 0.5 ms of CPU each.
    """

    def __init__(self) -> None:
        self._pruned = time.monotonic()
        super().__init__()

    # The base class's private hook, by its mangled name: its writes call it.
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self._pruned >= PRUNE_EVERY_S:
            self._pruned = now
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Verdict:
    """One budget's answer to one request, in the terms of the IETF RateLimit fields."""

    policy: str
    allowed: bool
    quota: int
    window_s: int
    remaining: int
    reset_s: int


class RateLimiter:
    """Named budgets per identifier (an API key, an address), and plain windowed counters."""

    def __init__(self, storage: Storage, *, namespace: str, enabled: bool = True) -> None:
        self.storage = storage
        self.namespace = namespace
        self.enabled = enabled
        self._strategy = MovingWindowRateLimiter(storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        storage: Storage = (
            RedisStorage(settings.redis_url) if settings.redis_url else PrunedMemoryStorage()
        )
        return cls(
            storage, namespace=settings.rate_limit_namespace, enabled=settings.rate_limits_enabled
        )

    def hit(self, policy: str, limit: str | RateLimitItem, *identifiers: str) -> Verdict:
        """Spend one unit of `policy`'s budget for `identifiers`; refused when none is left."""
        item = parse_limit(limit) if isinstance(limit, str) else limit
        allowed = self._strategy.hit(item, self.namespace, policy, *identifiers)
        return self._verdict(policy, item, allowed, identifiers)

    def peek(self, policy: str, limit: str | RateLimitItem, *identifiers: str) -> Verdict:
        """The budget's state without spending from it."""
        item = parse_limit(limit) if isinstance(limit, str) else limit
        allowed = self._strategy.test(item, self.namespace, policy, *identifiers)
        return self._verdict(policy, item, allowed, identifiers)

    def _verdict(
        self, policy: str, item: RateLimitItem, allowed: bool, identifiers: tuple[str, ...]
    ) -> Verdict:
        stats = self._strategy.get_window_stats(item, self.namespace, policy, *identifiers)
        window = item.get_expiry()
        left = math.ceil(stats.reset_time - time.time())
        reset = max(1, left) if not allowed else max(0, left)
        return Verdict(
            policy=policy,
            allowed=allowed,
            quota=item.amount,
            window_s=window,
            remaining=max(0, stats.remaining),
            reset_s=min(reset, window),
        )

    def add(self, counter: str, amount: int, *, expiry_s: int) -> int:
        """Add to a counter that expires `expiry_s` after its first addition; the new total."""
        return self.storage.incr(self._key(counter), expiry_s, amount)

    def read(self, counter: str) -> int:
        return self.storage.get(self._key(counter))

    def _key(self, counter: str) -> str:
        return f"{self.namespace}/{counter}"
