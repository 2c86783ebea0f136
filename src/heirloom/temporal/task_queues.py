"""Heirloom's task queues as a Temporal client reads them: `TaskQueueReader` over DescribeTaskQueue.

One DescribeTaskQueue call per queue and task type (`report_stats`: approximate backlog count
and age, add and dispatch rates, overall and per priority key).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueueStats
from temporalio.api.taskqueue.v1 import TaskQueue as TaskQueueRef
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from heirloom.services.queue.task_queues import (
    Backlog,
    Poller,
    QueueState,
    TaskType,
    is_fresh,
)

# An operator's page must answer even when the server is slow.
DESCRIBE_TIMEOUT_S = 5.0
# A readiness probe or a submission must answer even when the server hangs.
POLLERS_TIMEOUT_S = 3.0
# Pollers change on deploys, not per request: a submission path may ask on every POST.
POLLER_CACHE_S = 5.0

_PROTO_TYPES = {
    TaskType.WORKFLOW: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    TaskType.ACTIVITY: TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}
_poller_cache: dict[tuple[str, str, str], float] = {}


class TemporalTaskQueues:
    """The services' `TaskQueueReader`, over one Temporal client."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.namespace = client.namespace

    async def describe(self, task_queue: str, task_type: TaskType) -> QueueState:
        response = await self.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self.client.namespace,
                task_queue=TaskQueueRef(name=task_queue),
                task_queue_type=_PROTO_TYPES[task_type],
                report_stats=True,
            ),
            timeout=timedelta(seconds=DESCRIBE_TIMEOUT_S),
        )
        now = datetime.now(UTC)
        return QueueState(
            task_queue=task_queue,
            task_type=task_type,
            backlog=_backlog(response.stats),
            by_priority={
                key: _backlog(stats)
                for key, stats in sorted(response.stats_by_priority_key.items())
            },
            pollers=tuple(_poller(p, task_type, now) for p in response.pollers),
        )

    async def has_pollers(self, task_queue: str) -> bool:
        """Whether a worker polls `task_queue` for workflow tasks.

        A yes is cached for POLLER_CACHE_S; a no is not, so a worker that has just started is
        served at once (asking again only costs the callers that are refused anyway).
        """
        client = self.client
        # Keyed by server too: one process may talk to several clusters (tests, a migration).
        key = (client.service_client.config.target_host, client.namespace, task_queue)
        now = time.monotonic()
        cached = _poller_cache.get(key)
        if cached is not None and now - cached < POLLER_CACHE_S:
            return True
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueueRef(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            timeout=timedelta(seconds=POLLERS_TIMEOUT_S),
        )
        wall = datetime.now(UTC)
        polled = any(is_fresh(p.last_access_time.ToDatetime(UTC), wall) for p in response.pollers)
        if polled:
            _poller_cache[key] = now
        else:
            _poller_cache.pop(key, None)
        return polled

    async def server_healthy(self) -> bool:
        return await self.client.service_client.check_health(
            timeout=timedelta(seconds=POLLERS_TIMEOUT_S)
        )


def _backlog(stats: TaskQueueStats) -> Backlog:
    return Backlog(
        count=stats.approximate_backlog_count,
        age_s=stats.approximate_backlog_age.ToTimedelta().total_seconds(),
        add_rate=stats.tasks_add_rate,
        dispatch_rate=stats.tasks_dispatch_rate,
    )


def _poller(info: PollerInfo, task_type: TaskType, now: datetime) -> Poller:
    last = info.last_access_time.ToDatetime(UTC)
    return Poller(info.identity, task_type, last, is_fresh(last, now))
