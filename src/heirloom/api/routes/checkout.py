"""/v1/checkout: start paying for a credit pack or the forever tier on Stripe Checkout."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.concurrency import run_in_threadpool

from heirloom.api.contract import errors
from heirloom.api.deps import CurrentUser, ServicesDep
from heirloom.api.schemas import CheckoutIn, CheckoutOut

router = APIRouter(prefix="/v1/checkout", tags=["purchases"])


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=CheckoutOut, responses=errors(409, 503)
)
async def checkout(body: CheckoutIn, user: CurrentUser, services: ServicesDep) -> CheckoutOut:
    """A Checkout Session for the pack; credits arrive when Stripe's webhook says it was paid."""
    base = services.settings.api_base_url.rstrip("/")
    started = await run_in_threadpool(
        services.purchases.checkout,
        user.id,
        body.pack,
        success_url=f"{base}/#/account?purchase={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{base}/#/pricing",
    )
    return CheckoutOut(purchase_id=started.purchase_id, url=started.url)
