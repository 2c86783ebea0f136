"""Temporal's view of Heirloom's task queues: backlog statistics per priority key, and pollers.

One DescribeTaskQueue call per queue and task type (`report_stats`: approximate backlog count
and age, add and dispatch rates, overall and per priority key). A queue is alive while, for
every task type it serves, some worker polled it within POLLER_FRESH_S.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueueStats
from temporalio.api.taskqueue.v1 import TaskQueue as TaskQueueRef
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from heirloom.domain.gpu_queue import GPU_TASK_QUEUE
from heirloom.domain.tiers import Tier

# An operator's page must answer even when the server is slow.
DESCRIBE_TIMEOUT_S = 5.0
# A live worker polls again at least once a minute (the server's long-poll expiry), while the
# server keeps a stopped worker's poller listed for five minutes: older ones count as gone.
POLLER_FRESH_S = 120.0


class TaskType(StrEnum):
    """The two kinds of task a queue holds: workflow tasks and activity tasks."""

    WORKFLOW = "workflow"
    ACTIVITY = "activity"

    @property
    def proto(self) -> TaskQueueType.ValueType:
        if self is TaskType.WORKFLOW:
            return TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
        return TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY


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

    @classmethod
    def of(cls, stats: TaskQueueStats) -> Backlog:
        return cls(
            count=stats.approximate_backlog_count,
            age_s=stats.approximate_backlog_age.ToTimedelta().total_seconds(),
            add_rate=stats.tasks_add_rate,
            dispatch_rate=stats.tasks_dispatch_rate,
        )


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


def is_fresh(last_access_at: datetime, now: datetime) -> bool:
    """Whether a poller that last polled at `last_access_at` still counts as a live worker."""
    return last_access_at >= now - timedelta(seconds=POLLER_FRESH_S)


async def describe(client: Client, task_queue: str, task_type: TaskType) -> QueueState:
    """Backlog statistics (overall and per priority key) and pollers of one queue and type."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueueRef(name=task_queue),
            task_queue_type=task_type.proto,
            report_stats=True,
        ),
        timeout=timedelta(seconds=DESCRIBE_TIMEOUT_S),
    )
    now = datetime.now(UTC)
    return QueueState(
        task_queue=task_queue,
        task_type=task_type,
        backlog=Backlog.of(response.stats),
        by_priority={
            key: Backlog.of(stats) for key, stats in sorted(response.stats_by_priority_key.items())
        },
        pollers=tuple(_poller(p, task_type, now) for p in response.pollers),
    )


async def describe_all(client: Client, queues: list[Served]) -> list[QueueState]:
    """`describe` for every queue and task type, concurrently, in the order given."""
    calls = [describe(client, q.task_queue, t) for q in queues for t in q.task_types]
    return list(await asyncio.gather(*calls))


async def liveness(client: Client, queues: list[Served]) -> list[Liveness]:
    """For each queue, its pollers and whether each task type it serves has a fresh one."""
    states = await describe_all(client, queues)
    result = []
    for queue in queues:
        mine = [s for s in states if s.task_queue == queue.task_queue]
        pollers = tuple(p for s in mine for p in s.pollers)
        alive = all(any(p.alive for p in s.pollers) for s in mine)
        result.append(Liveness(queue.task_queue, alive, pollers))
    return result


def _poller(info: PollerInfo, task_type: TaskType, now: datetime) -> Poller:
    last = info.last_access_time.ToDatetime(UTC)
    return Poller(info.identity, task_type, last, is_fresh(last, now))
