"""/healthz (the process answers) and /readyz (it can take and run jobs now): public, no key.
/v1/admin/health adds, for operators, the workers polling each task queue."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from heirloom.api.deps import AdminUser, ServicesDep, TaskQueuesDep
from heirloom.api.schemas import AdminHealthOut, CheckOut, QueueLivenessOut
from heirloom.domain.task_queues import OPS_TASK_QUEUE
from heirloom.services.ops.health import readiness
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

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency or a worker is missing"}})
async def readyz(services: ServicesDep, temporal: TaskQueuesDep) -> JSONResponse:
    """Database, Temporal, storage, RunPod and a worker per tier; 503 if any check fails."""
    result = await readiness(services, temporal)
    return JSONResponse(result.to_dict(), status_code=200 if result.ready else 503)


@router.get("/v1/admin/health", response_model=AdminHealthOut, tags=["admin"])
async def admin_health(
    _admin: AdminUser, services: ServicesDep, temporal: TaskQueuesDep
) -> AdminHealthOut:
    """/readyz's checks, and per task queue the workers polling it and whether it is served."""
    result = await readiness(services, temporal)
    return AdminHealthOut(
        status="ready" if result.ready else "not_ready",
        checks={c.name: CheckOut(ok=c.ok, detail=c.detail) for c in result.checks},
        alive_within_s=POLLER_FRESH_S,
        task_queues=[QueueLivenessOut.of(live) for live in await _liveness(temporal)],
    )


async def _liveness(temporal: TaskQueueReader | None) -> list[Liveness]:
    queues = [*gpu_and_tier_queues(), Served(OPS_TASK_QUEUE, tuple(TaskType))]
    if temporal is not None:
        try:
            return await liveness(temporal, queues)
        except Exception:
            log.warning("admin health: Temporal did not describe the task queues", exc_info=True)
    return [Liveness(queue.task_queue, False, ()) for queue in queues]
