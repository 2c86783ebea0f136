"""/v1/stripe/webhook: Stripe's signed notifications (checkout completed, refunds, disputes).

No API key: the `Stripe-Signature` header, checked against the endpoint's secret within the
tolerance, is the authentication. A refused notification changes nothing; Stripe retries it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool

from heirloom.api.contract import errors
from heirloom.api.deps import ServicesDep
from heirloom.api.schemas import StripeWebhookOut

router = APIRouter(prefix="/v1/stripe", tags=["purchases"])


@router.post("/webhook", response_model=StripeWebhookOut, responses=errors(400))
async def stripe_webhook(
    request: Request,
    services: ServicesDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> StripeWebhookOut:
    """Apply a verified event once; a replayed event id answers `duplicate` and changes nothing."""
    payload = await request.body()
    outcome = await run_in_threadpool(services.purchases.handle_webhook, payload, stripe_signature)
    return StripeWebhookOut(duplicate=outcome.duplicate)
