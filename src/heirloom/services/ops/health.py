"""Readiness: can this deployment take and run a job right now, and if not, what is missing.

Each check answers within a bound and says what it found in plain words; the exception behind
a failed check goes to the log. Temporal is read through the queue capability's
`TaskQueueReader`, so this module imports no Temporal.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import text

from heirloom.config import Settings
from heirloom.db.engine import Database
from heirloom.domain.tiers import Tier
from heirloom.services.queue.task_queues import TaskQueueReader
from heirloom.services.runpod.client import RunPodService
from heirloom.services.storage.base import Storage

log = logging.getLogger(__name__)

# A readiness probe must answer even when a dependency hangs.
CHECK_TIMEOUT_S = 3.0
# Looked up, never written: its absence is a fine answer, an error is not.
STORAGE_PROBE_KEY = "health/probe"


class Deployment(Protocol):
    """What readiness checks besides Temporal (the process's Services)."""

    settings: Settings
    db: Database
    storage: Storage
    runpod: RunPodService


@dataclass(frozen=True)
class Check:
    """One dependency's state: whether it is usable, and a short plain description."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    """Every check of a deployment; ready when all of them pass."""

    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "not_ready",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
        }


async def readiness(services: Deployment, temporal: TaskQueueReader | None) -> Readiness:
    """Run every check concurrently: database, Temporal, storage, RunPod, a worker per tier."""
    checks = [
        _check("database", _database(services)),
        _check("storage", _storage(services)),
        _check("runpod", _runpod(services)),
    ]
    if temporal is None:
        down = "not connected"
        fixed = [Check("temporal", False, down)]
        fixed += [Check(f"worker:{tier.value}", False, down) for tier in Tier]
        return Readiness(tuple(await asyncio.gather(*checks)) + tuple(fixed))
    checks.append(_check("temporal", _temporal(temporal)))
    checks += [_check(f"worker:{tier.value}", _worker(temporal, tier)) for tier in Tier]
    return Readiness(tuple(await asyncio.gather(*checks)))


class ReadinessCache:
    """One process's latest readiness, reused for `ttl_s`; concurrent callers share one check.

    So a flood of /readyz costs at most one database query, one storage probe and one RunPod
    request per `ttl_s`, whatever the number of requests.
    """

    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._value: Readiness | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    def _fresh(self) -> Readiness | None:
        if self._value is not None and self._clock() - self._checked_at < self.ttl_s:
            return self._value
        return None

    async def get(self, check: Callable[[], Awaitable[Readiness]]) -> Readiness:
        """The cached readiness, or `check()`'s when it is stale (one check at a time)."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        started = self._clock()
        async with self._lock:
            # Another caller may have checked while this one waited: its answer is newer.
            if self._value is not None and self._checked_at >= started:
                return self._value
            fresh = self._fresh()
            if fresh is not None:
                return fresh
            started = self._clock()
            value = await check()
            self._value, self._checked_at = value, started
            return value


async def _check(name: str, probe: Awaitable[str]) -> Check:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):  # not wait_for: a cancel is never lost
            detail = await probe
        return Check(name, True, detail)
    except TimeoutError:
        return Check(name, False, f"no answer within {CHECK_TIMEOUT_S:.0f} s")
    except _NotReady as err:
        return Check(name, False, str(err))
    except Exception:
        log.warning("readiness check %s failed", name, exc_info=True)
        return Check(name, False, "unreachable")


class _NotReady(Exception):
    """A dependency answered, and its answer means it cannot serve jobs."""


async def _database(services: Deployment) -> str:
    def ping() -> None:
        with services.db.session() as session:
            session.exec(text("SELECT 1"))  # type: ignore[call-overload]

    await asyncio.to_thread(ping)
    return "ok"


async def _storage(services: Deployment) -> str:
    await asyncio.to_thread(services.storage.exists, STORAGE_PROBE_KEY)
    return f"ok ({services.settings.storage_backend})"


async def _runpod(services: Deployment) -> str:
    health = await asyncio.to_thread(services.runpod.health)
    workers = health.get("workers")
    if isinstance(workers, dict):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(workers.items()))
        return f"ok (workers: {counts})"
    return "ok"


async def _temporal(temporal: TaskQueueReader) -> str:
    if not await temporal.server_healthy():
        raise _NotReady("not serving")
    return f"ok (namespace {temporal.namespace})"


async def _worker(temporal: TaskQueueReader, tier: Tier) -> str:
    if not await temporal.has_pollers(tier.task_queue):
        raise _NotReady(f"no worker polls {tier.task_queue}")
    return f"ok ({tier.task_queue})"
