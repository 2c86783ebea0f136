"""/v1/me: the caller's account, balance, daily usage and credit history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from heirloom.api.deps import CurrentUser, ServicesDep
from heirloom.api.schemas import LedgerLineOut, LedgerPage, MeOut
from heirloom.domain.pricing import next_daily_reset
from heirloom.domain.tiers import Tier

router = APIRouter(prefix="/v1/me", tags=["account"])

# Ledger ids are 64-bit integers; a larger cursor would overflow the query instead of paging.
MAX_LEDGER_ID = 2**63 - 1


@router.get("", response_model=MeOut)
def me(user: CurrentUser, services: ServicesDep) -> MeOut:
    now = services.credits.clock()
    with services.db.session() as session:
        jobs_today = services.credits.jobs_today(session, user.id, now)
    return MeOut(
        id=user.id,
        email=user.email,
        tier=user.tier,
        role=user.role,
        balance=user.balance,  # read with the key this request authenticated with
        jobs_today=jobs_today,
        daily_job_limit=services.settings.tier_rules[Tier(user.tier)].daily_job_limit,
        daily_limit_resets_at=next_daily_reset(now),
    )


@router.get("/credits", response_model=LedgerPage)
def credit_history(
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_LEDGER_ID)] = None,
) -> LedgerPage:
    """Ledger rows, newest first; pass `next_before_id` back as `before_id` for the next page."""
    lines = services.credits.history(user.id, limit=limit, before_id=before_id)
    return LedgerPage(
        entries=[LedgerLineOut(**vars(line)) for line in lines],
        next_before_id=lines[-1].id if len(lines) == limit else None,
    )
