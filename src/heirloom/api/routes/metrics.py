"""/metrics: Prometheus exposition of the API process and of the database's job state."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST

from heirloom.api.deps import ServicesDep
from heirloom.services.ops.metrics import api_exposition

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics(services: ServicesDep) -> Response:
    body = await run_in_threadpool(api_exposition, services.db)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
