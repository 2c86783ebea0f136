"""/healthz (the process answers) and /readyz (it can take and run jobs now): public, no key.

/readyz says only ready or not ready; which check failed, and the workers polling each task
queue, are for operators at /v1/admin/health. Both read the process's readiness cache
(HEIRLOOM_READINESS_CACHE_S), so a flood of /readyz costs no database query, storage probe or
RunPod request beyond one per cache period.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from heirloom.api.deps import ServicesDep, TaskQueuesDep
from heirloom.services.context import Services
from heirloom.services.ops.health import Readiness, ReadinessCache, readiness
from heirloom.services.queue.task_queues import TaskQueueReader

router = APIRouter(tags=["ops"])


async def cached_readiness(
    request: Request, services: Services, temporal: TaskQueueReader | None
) -> Readiness:
    """This process's readiness, checked at most once per HEIRLOOM_READINESS_CACHE_S."""
    cache: ReadinessCache | None = getattr(request.app.state, "readiness_cache", None)
    if cache is None:
        cache = request.app.state.readiness_cache = ReadinessCache(
            services.settings.readiness_cache_s
        )
    return await cache.get(lambda: readiness(services, temporal))


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency or a worker is missing"}})
async def readyz(request: Request, services: ServicesDep, temporal: TaskQueuesDep) -> JSONResponse:
    """`{"status": "ready"}` (200) or `{"status": "not_ready"}` (503); details for admins at
    /v1/admin/health."""
    result = await cached_readiness(request, services, temporal)
    status = "ready" if result.ready else "not_ready"
    return JSONResponse({"status": status}, status_code=200 if result.ready else 503)
