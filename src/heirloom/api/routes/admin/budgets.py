"""/v1/admin/budgets and /v1/admin/controls: GPU budgets, emergency stop and resume, audit."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from heirloom.api import paging
from heirloom.api.deps import AdminUser, ServicesDep
from heirloom.api.schemas import ControlAction, ControlAuditList
from heirloom.services.money.costs import Period

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class BudgetIn(BaseModel):
    amount_usd: float | None = Field(default=None, gt=0, description="null removes the budget")


# What a control applies to: every tier, or one.
Scope = Literal["all", "free", "paid", "forever"]


class ControlIn(BaseModel):
    reason: str | None = Field(default=None, max_length=200)


@router.get("/budgets")
async def budgets(services: ServicesDep) -> dict[str, Any]:
    """Each period's budget, spend and share used; the controls in force."""
    states = await run_in_threadpool(services.budgets.states)
    controls = await run_in_threadpool(services.budgets.controls)
    return {
        "budgets": [{**asdict(s), "used_pct": s.used_pct} for s in states],
        "controls": [asdict(c) for c in controls],
    }


@router.put("/budgets/{period}")
async def set_budget(
    period: Period, body: BudgetIn, admin: AdminUser, services: ServicesDep
) -> dict[str, Any]:
    await run_in_threadpool(services.budgets.set_budget, admin.id, period, body.amount_usd)
    return await budgets(services)


@router.post("/controls/{scope}/stop")
async def stop(
    scope: Scope, body: ControlIn, admin: AdminUser, services: ServicesDep
) -> dict[str, Any]:
    """Refuse new submissions for a tier (or `all`); running jobs finish."""
    await run_in_threadpool(services.budgets.stop, admin.id, scope, body.reason)
    return await budgets(services)


@router.post("/controls/{scope}/resume")
async def resume(
    scope: Scope, body: ControlIn, admin: AdminUser, services: ServicesDep
) -> dict[str, Any]:
    """Take new submissions again, also over the current periods' budget pause."""
    await run_in_threadpool(services.budgets.resume, admin.id, scope, body.reason)
    return await budgets(services)


@router.get("/controls/audit", response_model=ControlAuditList)
async def audit(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: paging.CursorQuery = None,
) -> ControlAuditList:
    """Admin control actions (pauses, resumes, budget changes), newest first; page with
    `cursor`."""
    page = await run_in_threadpool(services.budgets.audit, limit, paging.decode(cursor))
    return ControlAuditList(
        actions=[ControlAction.model_validate(line, from_attributes=True) for line in page.rows],
        next_cursor=paging.next_token(page),
    )
