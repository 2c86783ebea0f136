"""Readiness: can this deployment take and run a job right now, and if not, what is missing.

Each check answers within a bound and says what it found in plain words; the exception behind
a failed check goes to the log. `tier_has_pollers` is what a submission can ask before it
charges: whether any worker polls the tier's task queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.task_queues import is_fresh

log = logging.getLogger(__name__)

# A readiness probe must answer even when a dependency hangs.
CHECK_TIMEOUT_S = 3.0
# Pollers change on deploys, not per request: a submission path may ask on every POST.
POLLER_CACHE_S = 5.0
# Looked up, never written: its absence is a fine answer, an error is not.
STORAGE_PROBE_KEY = "health/probe"

_poller_cache: dict[tuple[str, str, str], tuple[float, bool]] = {}


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


async def tier_has_pollers(client: Client, task_queue: str) -> bool:
    """Whether a worker polls `task_queue` for workflow tasks.

    A yes is cached for POLLER_CACHE_S; a no is not, so a worker that has just started is
    served at once (asking again only costs the callers that are refused anyway).
    """
    # Keyed by server too: one process may talk to several clusters (tests, a migration).
    key = (client.service_client.config.target_host, client.namespace, task_queue)
    cached = _poller_cache.get(key)
    now = time.monotonic()
    if cached is not None and now - cached[0] < POLLER_CACHE_S:
        return cached[1]
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=timedelta(seconds=CHECK_TIMEOUT_S),
    )
    wall = datetime.now(UTC)
    polled = any(is_fresh(p.last_access_time.ToDatetime(UTC), wall) for p in response.pollers)
    if polled:
        _poller_cache[key] = (now, polled)
    else:
        _poller_cache.pop(key, None)
    return polled


async def readiness(services: Services, temporal: Client | None) -> Readiness:
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


async def _database(services: Services) -> str:
    def ping() -> None:
        with services.db.session() as session:
            session.exec(text("SELECT 1"))  # type: ignore[call-overload]

    await asyncio.to_thread(ping)
    return "ok"


async def _storage(services: Services) -> str:
    await asyncio.to_thread(services.storage.exists, STORAGE_PROBE_KEY)
    return f"ok ({services.settings.storage_backend})"


async def _runpod(services: Services) -> str:
    health = await asyncio.to_thread(services.runpod.health)
    workers = health.get("workers")
    if isinstance(workers, dict):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(workers.items()))
        return f"ok (workers: {counts})"
    return "ok"


async def _temporal(client: Client) -> str:
    if not await client.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT_S)):
        raise _NotReady("not serving")
    return f"ok (namespace {client.namespace})"


async def _worker(client: Client, tier: Tier) -> str:
    if not await tier_has_pollers(client, tier.task_queue):
        raise _NotReady(f"no worker polls {tier.task_queue}")
    return f"ok ({tier.task_queue})"
