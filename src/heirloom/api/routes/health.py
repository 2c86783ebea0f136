"""/healthz (the process answers) and /readyz (it can take and run jobs now): public, no key.
Operators' view, with the workers polling each task queue, is /v1/admin/health."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from heirloom.api.deps import ServicesDep, TaskQueuesDep
from heirloom.services.ops.health import readiness

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency or a worker is missing"}})
async def readyz(services: ServicesDep, temporal: TaskQueuesDep) -> JSONResponse:
    """Database, Temporal, storage, RunPod and a worker per tier; 503 if any check fails."""
    result = await readiness(services, temporal)
    return JSONResponse(result.to_dict(), status_code=200 if result.ready else 503)
