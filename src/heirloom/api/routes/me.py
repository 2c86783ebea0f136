"""/v1/me: the caller's account, balance, usage, credit history, audit log, closure (its
exports are their own resource: routes/exports.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.concurrency import run_in_threadpool

from heirloom.api import paging
from heirloom.api.deps import CallerDep, CurrentUser, ServicesDep, TemporalDep
from heirloom.api.schemas import (
    AuditOut,
    AuditPage,
    ErasureOut,
    LedgerLineOut,
    LedgerPage,
    MeOut,
    PurchaseOut,
    PurchasePage,
    StorageOut,
)
from heirloom.domain.paging import MAX_ROW_ID
from heirloom.domain.pricing import next_daily_reset
from heirloom.domain.tiers import Tier
from heirloom.starters import erasure

router = APIRouter(prefix="/v1/me", tags=["account"])


@router.get("", response_model=MeOut)
def me(user: CurrentUser, services: ServicesDep) -> MeOut:
    now = services.credits.clock()
    with services.db.session() as session:
        jobs_today = services.credits.jobs_today(session, user.id, now)
    usage = services.retention.usage(user.id, Tier(user.tier))
    return MeOut(
        id=user.id,
        email=user.email,
        tier=user.tier,
        role=user.role,
        balance=user.balance,  # read with the key this request authenticated with
        debt=user.debt,
        jobs_today=jobs_today,
        daily_job_limit=services.settings.tier_rules[Tier(user.tier)].daily_job_limit,
        daily_limit_resets_at=next_daily_reset(now),
        storage=StorageOut(**vars(usage)),
    )


@router.get("/credits", response_model=LedgerPage)
def credit_history(
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    cursor: paging.CursorQuery = None,
) -> LedgerPage:
    """Ledger rows, newest first; pass `next_cursor` back as `cursor` for the next page."""
    start = paging.before_id(cursor, before_id)
    lines = services.credits.history(user.id, limit=limit, before_id=start)
    next_before_id = lines[-1].id if len(lines) == limit else None
    return LedgerPage(
        entries=[LedgerLineOut(**vars(line)) for line in lines],
        next_cursor=paging.after_id(next_before_id),
        next_before_id=next_before_id,
    )


@router.get("/audit", response_model=AuditPage)
def audit_log(
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    cursor: paging.CursorQuery = None,
) -> AuditPage:
    """Every access to the caller's photos, newest first; page with `cursor`."""
    start = paging.before_id(cursor, before_id)
    entries = services.audit.query(user.id, before_id=start, limit=limit)
    next_before_id = entries[-1].id if len(entries) == limit else None
    return AuditPage(
        entries=[AuditOut.from_entry(entry) for entry in entries],
        next_cursor=paging.after_id(next_before_id),
        next_before_id=next_before_id,
    )


@router.delete("", status_code=status.HTTP_202_ACCEPTED, response_model=ErasureOut)
async def close_account(
    user: CurrentUser, caller: CallerDep, services: ServicesDep, temporal: TemporalDep
) -> ErasureOut:
    """Close the account: its key stops working now, and a durable workflow erases its photos,
    jobs, share links and workflow histories. The ledger stays, anonymised."""
    # Started first: once the key is gone the caller could not ask again.
    workflow_id = await erasure.start_erasure(
        temporal, user.id, heartbeat_timeout_s=services.settings.erasure_heartbeat_timeout_s
    )
    await run_in_threadpool(services.audit.record, caller, owner_id=user.id, action="erase_account")
    await run_in_threadpool(services.erasure.close_account, user.id)
    return ErasureOut(status="erasing", workflow_id=workflow_id)


@router.get("/purchases", response_model=PurchasePage)
def purchases(
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    cursor: paging.CursorQuery = None,
) -> PurchasePage:
    """The caller's purchases, newest first: receipts with what was paid and paid back; page
    with `cursor`."""
    page = services.purchases.receipts(user.id, limit=limit, after=paging.decode(cursor))
    return PurchasePage(
        purchases=[
            PurchaseOut(**{k: v for k, v in vars(r).items() if k != "user_id"}) for r in page.rows
        ],
        next_cursor=paging.next_token(page),
    )
