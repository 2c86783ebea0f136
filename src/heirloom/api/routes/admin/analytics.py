"""/v1/admin/analytics: usage patterns over [from, to) (default: the last 7 days)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from heirloom.api.deps import ServicesDep
from heirloom.api.schemas import IsoDateTime
from heirloom.db.models import as_utc, utcnow
from heirloom.domain.errors import InvalidQuery
from heirloom.services.ops.analytics import Analytics

router = APIRouter(prefix="/v1/admin/analytics", tags=["admin"])


def _window(
    start: Annotated[IsoDateTime | None, Query(alias="from")] = None,
    end: Annotated[IsoDateTime | None, Query(alias="to")] = None,
) -> tuple[datetime, datetime]:
    end = as_utc(end) if end else utcnow()
    start = as_utc(start) if start else end - timedelta(days=7)
    if start >= end:
        raise InvalidQuery("`from` must be before `to`.")
    return start, end


Window = Annotated[tuple[datetime, datetime], Depends(_window)]


@router.get("/jobs")
async def jobs_per_day(services: ServicesDep, window: Window) -> Any:
    """Jobs created per day by tier and operations."""
    rows = await run_in_threadpool(Analytics(services.db).jobs_per_day, *window)
    return [asdict(row) for row in rows]


@router.get("/users")
async def active_users(services: ServicesDep, window: Window) -> dict[str, int]:
    """Users with at least one job in the window, per tier."""
    return await run_in_threadpool(Analytics(services.db).active_users, *window)


@router.get("/stages")
async def stage_times(services: ServicesDep, window: Window) -> Any:
    """p50/p95 seconds: queue wait, run time, model execution, RunPod queue delay."""
    rows = await run_in_threadpool(Analytics(services.db).stage_times, *window)
    return [asdict(row) for row in rows]


@router.get("/quality")
async def quality_gate(services: ServicesDep, window: Window) -> dict[str, Any]:
    """The quality gate: second model tries it caused, their GPU cost, flagged and rejected."""
    return asdict(await run_in_threadpool(Analytics(services.db).quality_gate, *window))


@router.get("/failures")
async def failure_rates(services: ServicesDep, window: Window) -> dict[str, Any]:
    """Retry rate of model steps and failure rates by error code."""
    return asdict(await run_in_threadpool(Analytics(services.db).failure_rates, *window))
