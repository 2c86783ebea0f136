"""/v1/admin/queue: Temporal's task-queue statistics, GPU jobs in flight, the GPU pool's
endpoints, and the recorded snapshots of the queue."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from temporalio.service import RPCError

from heirloom.api.deps import ServicesDep, TemporalDep
from heirloom.api.schemas import (
    AdminQueueOut,
    EndpointOut,
    IsoDateTime,
    QueueMetricOut,
    QueueMetricsPage,
    TaskQueueStatsOut,
)
from heirloom.db.models import as_utc, utcnow
from heirloom.domain.errors import ServiceUnavailable
from heirloom.services.queue.endpoints import EndpointLoads
from heirloom.services.queue.snapshots import MAX_ROWS, QueueMetrics
from heirloom.services.queue.task_queues import describe_all, gpu_and_tier_queues
from heirloom.temporal.task_queues import TemporalTaskQueues

router = APIRouter(prefix="/v1/admin/queue", tags=["admin"])

# The metrics route's window when none is given.
DEFAULT_METRICS_WINDOW = timedelta(hours=1)


@router.get("", response_model=AdminQueueOut)
async def get_task_queues(services: ServicesDep, temporal: TemporalDep) -> AdminQueueOut:
    """Temporal's statistics of the GPU and tier queues (per priority key), the model steps in
    flight and each endpoint of the GPU pool."""
    try:
        states = await describe_all(TemporalTaskQueues(temporal), gpu_and_tier_queues())
    except RPCError as err:
        raise ServiceUnavailable("Temporal did not describe the task queues.") from err
    on_gpu, with_runpod = await run_in_threadpool(QueueMetrics(services.db).in_flight)
    endpoints = await run_in_threadpool(EndpointLoads(services.db, services.settings).all)
    return AdminQueueOut(
        gpu_pool_size=services.settings.gpu_pool_size,
        gpu_in_flight=on_gpu,
        runpod_jobs_in_flight=with_runpod,
        endpoints=[EndpointOut.of(load) for load in endpoints],
        task_queues=[TaskQueueStatsOut.of_state(state) for state in states],
    )


@router.get("/metrics", response_model=QueueMetricsPage)
def get_queue_metrics(
    services: ServicesDep,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
) -> QueueMetricsPage:
    """Snapshots taken in [since, until) (default: the last hour), oldest first."""
    start = as_utc(since) if since else utcnow() - DEFAULT_METRICS_WINDOW
    rows = QueueMetrics(services.db).between(
        start, as_utc(until) if until else None, limit=MAX_ROWS + 1
    )
    return QueueMetricsPage(
        rows=[QueueMetricOut.from_row(row) for row in rows[:MAX_ROWS]],
        truncated=len(rows) > MAX_ROWS,
    )
