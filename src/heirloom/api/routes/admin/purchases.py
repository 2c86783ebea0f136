"""/v1/admin/purchases: every purchase, and refunds through Stripe."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool

from heirloom.api import paging
from heirloom.api.contract import errors
from heirloom.api.deps import ServicesDep
from heirloom.api.schemas import AdminPurchaseOut, AdminPurchasePage

router = APIRouter(prefix="/v1/admin/purchases", tags=["admin"])


@router.get("", response_model=AdminPurchasePage)
def list_purchases(
    services: ServicesDep,
    user_id: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: paging.CursorQuery = None,
) -> AdminPurchasePage:
    """Purchases newest first, everyone's or one user's; page with `cursor`."""
    page = services.purchases.receipts(user_id, limit=limit, after=paging.decode(cursor))
    return AdminPurchasePage(
        purchases=[AdminPurchaseOut(**vars(r)) for r in page.rows],
        next_cursor=paging.next_token(page),
    )


@router.post(
    "/{purchase_id}/refund", response_model=AdminPurchaseOut, responses=errors(404, 409, 503)
)
async def refund_purchase(
    purchase_id: Annotated[str, Path(min_length=1, max_length=255)], services: ServicesDep
) -> AdminPurchaseOut:
    """Refund what is left of a paid purchase through Stripe and take its credits (and the
    tier it set) back now; what the balance cannot cover becomes the user's debt."""
    receipt = await run_in_threadpool(services.purchases.refund, purchase_id)
    return AdminPurchaseOut(**vars(receipt))
