"""/v1/admin/reports/costs: GPU cost, revenue and margin by day or month."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from heirloom.api.deps import ServicesDep
from heirloom.api.schemas import IsoDateTime
from heirloom.db.models import as_utc, utcnow
from heirloom.domain.errors import InvalidQuery
from heirloom.services.money.costs import Period

router = APIRouter(prefix="/v1/admin/reports", tags=["admin"])


@router.get("/costs")
async def cost_report(
    services: ServicesDep,
    period: Period = "day",
    start: Annotated[IsoDateTime | None, Query(alias="from")] = None,
    end: Annotated[IsoDateTime | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """Jobs created in [from, to) (default: the last 30 days) by period, totals and forecast."""
    end = as_utc(end) if end else utcnow()
    start = as_utc(start) if start else end - timedelta(days=30)
    if start >= end:
        raise InvalidQuery("`from` must be before `to`.")
    if (end - start).days > 3 * 366:
        raise InvalidQuery("A report covers at most three years.")
    report = await run_in_threadpool(services.costs.report, period, start, end)
    return asdict(report)
