"""/v1/admin/alerts: alert incidents, open and resolved, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from heirloom.api import paging
from heirloom.api.deps import ServicesDep
from heirloom.api.schemas import AlertList
from heirloom.services.ops.alerts import AlertBook

router = APIRouter(prefix="/v1/admin/alerts", tags=["admin"])


@router.get("", response_model=AlertList)
async def alerts(
    services: ServicesDep,
    open_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: paging.CursorQuery = None,
) -> AlertList:
    """Alert incidents newest first (`open_only` for those still open); page with `cursor`."""
    page = await run_in_threadpool(
        AlertBook(services.db).recent,
        open_only=open_only,
        limit=limit,
        after=paging.decode(cursor),
    )
    return AlertList(
        alerts=page.rows,
        next_cursor=paging.next_token(page),
    )
