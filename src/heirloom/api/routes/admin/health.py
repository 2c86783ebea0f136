"""/v1/admin/health: /readyz's checks and, per task queue, the workers polling it."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from heirloom.api.deps import ServicesDep, TaskQueuesDep
from heirloom.api.routes.health import cached_readiness
from heirloom.api.schemas import AdminHealthOut, CheckOut, QueueLivenessOut
from heirloom.domain.task_queues import EXPORT_TASK_QUEUE, OPS_TASK_QUEUE
from heirloom.services.queue.task_queues import (
    POLLER_FRESH_S,
    Liveness,
    Served,
    TaskQueueReader,
    TaskType,
    gpu_and_tier_queues,
    liveness,
)

log = logging.getLogger(__name__)

# Also under the public health routes' tag, as /healthz and /readyz are.
router = APIRouter(prefix="/v1/admin/health", tags=["ops", "admin"])


@router.get("", response_model=AdminHealthOut)
async def admin_health(
    request: Request, services: ServicesDep, temporal: TaskQueuesDep
) -> AdminHealthOut:
    """/readyz's checks (from the same cache), and per task queue the workers polling it and
    whether it is served."""
    result = await cached_readiness(request, services, temporal)
    return AdminHealthOut(
        status="ready" if result.ready else "not_ready",
        checks={c.name: CheckOut(ok=c.ok, detail=c.detail) for c in result.checks},
        alive_within_s=POLLER_FRESH_S,
        task_queues=[QueueLivenessOut.of(live) for live in await _liveness(temporal)],
    )


async def _liveness(temporal: TaskQueueReader | None) -> list[Liveness]:
    queues = [
        *gpu_and_tier_queues(),
        Served(OPS_TASK_QUEUE, tuple(TaskType)),
        Served(EXPORT_TASK_QUEUE, tuple(TaskType)),
    ]
    if temporal is not None:
        try:
            return await liveness(temporal, queues)
        except Exception:
            log.warning("admin health: Temporal did not describe the task queues", exc_info=True)
    return [Liveness(queue.task_queue, False, ()) for queue in queues]
