"""/metrics: Prometheus exposition of the API process and of the database's job state.

Operators only: it needs `Authorization: Bearer <HEIRLOOM_METRICS_TOKEN>`, and answers 404
(as a route that does not exist) when the token is unset, missing or wrong. A scrape is
reused for HEIRLOOM_METRICS_CACHE_S, so a flood runs no more database queries.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST

from heirloom.api.deps import ServicesDep
from heirloom.domain.errors import RouteNotFound
from heirloom.services.ops.metrics import ExpositionCache

router = APIRouter(tags=["operations"])


def _authorized(request: Request, token: str | None) -> bool:
    if not token:
        return False
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, services: ServicesDep) -> Response:
    if not _authorized(request, services.settings.metrics_token):
        raise RouteNotFound()
    cache: ExpositionCache | None = getattr(request.app.state, "metrics_cache", None)
    if cache is None:
        cache = request.app.state.metrics_cache = ExpositionCache(
            services.db, services.settings.metrics_cache_s
        )
    body = await run_in_threadpool(cache.get)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
