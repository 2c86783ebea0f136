"""/v1/signup: ask for a confirmation link by email, then confirm it to get an account.

Confirmation is a POST (the web app's confirm page sends it): mail scanners open links in
emails, and a GET that created accounts would spend them.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.concurrency import run_in_threadpool

from heirloom.api.contract import errors
from heirloom.api.deps import ServicesDep
from heirloom.api.middleware import rate_limits
from heirloom.api.schemas import SignupAccepted, SignupConfirmed, SignupConfirmIn, SignupIn
from heirloom.domain.signup_rules import normalize_email
from heirloom.domain.tiers import Tier

router = APIRouter(prefix="/v1/signup", tags=["sign-up"])

ACCEPTED = (
    "If this address can sign up, a confirmation link is on its way. Open it to get your "
    "account and its first API key."
)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SignupAccepted,
    responses=errors(400, 429, 503),
)
async def signup(body: SignupIn, request: Request, services: ServicesDep) -> SignupAccepted:
    """Email a single-use link; the answer is the same whether or not the address has an
    account. Limited per client network (an IPv6 /64 counts as one) and per address."""
    settings = services.settings
    network = rate_limits.client_address(request.scope)
    await rate_limits.spend(
        request.scope, services, "signup-network", settings.rate_limit_signup_network, network
    )
    await rate_limits.spend(
        request.scope,
        services,
        "signup-email",
        settings.rate_limit_signup_email,
        normalize_email(body.email),
    )
    base = settings.api_base_url.rstrip("/")
    await run_in_threadpool(
        services.signups.request, body.email, lambda token: f"{base}/#/confirm/{token}"
    )
    return SignupAccepted(message=ACCEPTED)


@router.post(
    "/confirm",
    status_code=status.HTTP_201_CREATED,
    response_model=SignupConfirmed,
    responses=errors(404, 409, 410),
)
async def confirm(body: SignupConfirmIn, services: ServicesDep) -> SignupConfirmed:
    """Create the free-tier account and its first key, once; a used or expired link is 410,
    a link never sent 404."""
    account = await run_in_threadpool(services.signups.confirm, body.token)
    return SignupConfirmed(
        user_id=account.user.id,
        email=account.user.email,
        tier=Tier(account.user.tier),
        balance=account.user.balance,
        api_key=account.api_key,
    )
