"""Temporal's view of Heirloom's task queues, as the services read it: backlog statistics per
priority key, and pollers.

A queue is alive while, for every task type it serves, some worker polled it within
POLLER_FRESH_S. The services read Temporal through `TaskQueueReader`, a small protocol that
`heirloom.temporal.task_queues` implements over a Temporal client, so they import no Temporal.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from heirloom.domain.task_queues import GPU_TASK_QUEUE
from heirloom.domain.tiers import Tier

# A live worker polls again at least once a minute (the server's long-poll expiry), while the
# server keeps a stopped worker's poller listed for five minutes: older ones count as gone.
POLLER_FRESH_S = 120.0


class TaskType(StrEnum):
    """The two kinds of task a queue holds: workflow tasks and activity tasks."""

    WORKFLOW = "workflow"
    ACTIVITY = "activity"


@dataclass(frozen=True)
class Served:
    """A task queue and the task types its workers take from it."""

    task_queue: str
    task_types: tuple[TaskType, ...]


def gpu_and_tier_queues() -> list[Served]:
    """The GPU queue (model steps) and each tier's queue (workflows and CPU steps)."""
    tiers = [Served(tier.task_queue, (TaskType.WORKFLOW, TaskType.ACTIVITY)) for tier in Tier]
    return [Served(GPU_TASK_QUEUE, (TaskType.ACTIVITY,)), *tiers]


@dataclass(frozen=True)
class Backlog:
    """Temporal's approximate backlog: tasks waiting, the oldest one's age, tasks per second."""

    count: int
    age_s: float
    add_rate: float
    dispatch_rate: float


@dataclass(frozen=True)
class Poller:
    """A worker seen polling: its identity, when it last polled, and whether that is recent."""

    identity: str
    task_type: TaskType
    last_access_at: datetime
    alive: bool


@dataclass(frozen=True)
class QueueState:
    """One task queue and task type: its backlog, per priority key, and its pollers."""

    task_queue: str
    task_type: TaskType
    backlog: Backlog
    by_priority: dict[int, Backlog]
    pollers: tuple[Poller, ...]


@dataclass(frozen=True)
class Liveness:
    """Whether workers serve a queue now (a fresh poller for each task type it serves)."""

    task_queue: str
    alive: bool
    pollers: tuple[Poller, ...]


class TaskQueueReader(Protocol):
    """What the services ask Temporal about its task queues and itself."""

    namespace: str

    async def describe(self, task_queue: str, task_type: TaskType) -> QueueState:
        """Backlog statistics (overall and per priority key) and pollers of one queue and type."""
        ...

    async def has_pollers(self, task_queue: str) -> bool:
        """Whether a worker polls `task_queue` for workflow tasks now."""
        ...

    async def server_healthy(self) -> bool:
        """Whether the Temporal server answers its health check."""
        ...


def is_fresh(last_access_at: datetime, now: datetime) -> bool:
    """Whether a poller that last polled at `last_access_at` still counts as a live worker."""
    return last_access_at >= now - timedelta(seconds=POLLER_FRESH_S)


async def describe_all(reader: TaskQueueReader, queues: list[Served]) -> list[QueueState]:
    """`describe` for every queue and task type, concurrently, in the order given."""
    calls = [reader.describe(q.task_queue, t) for q in queues for t in q.task_types]
    return list(await asyncio.gather(*calls))


async def liveness(reader: TaskQueueReader, queues: list[Served]) -> list[Liveness]:
    """For each queue, its pollers and whether each task type it serves has a fresh one."""
    states = await describe_all(reader, queues)
    result = []
    for queue in queues:
        mine = [s for s in states if s.task_queue == queue.task_queue]
        pollers = tuple(p for s in mine for p in s.pollers)
        alive = all(any(p.alive for p in s.pollers) for s in mine)
        result.append(Liveness(queue.task_queue, alive, pollers))
    return result
