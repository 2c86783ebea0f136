"""/healthz (the process answers) and /readyz (it can take and run jobs now): public, no key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from heirloom.api.deps import ServicesDep
from heirloom.services.health import readiness

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency or a worker is missing"}})
async def readyz(request: Request, services: ServicesDep) -> JSONResponse:
    """Database, Temporal, storage, RunPod and a worker per tier; 503 if any check fails."""
    state: Any = request.app.state
    result = await readiness(services, getattr(state, "temporal", None))
    return JSONResponse(result.to_dict(), status_code=200 if result.ready else 503)
