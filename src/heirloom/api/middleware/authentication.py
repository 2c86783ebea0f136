"""Authenticating a request: the key lookup, the failed-authentication budget, the key's tier
budget and the abuse signals, in one place for the route dependency and the body middleware."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool
from starlette.types import Scope

from heirloom.api.middleware import rate_limits
from heirloom.db.models import User
from heirloom.domain.errors import Unauthorized
from heirloom.domain.tiers import Tier
from heirloom.services.accounts.keys import Caller
from heirloom.services.context import Services

# Where the authenticated caller is kept on the request's state (read by routes' dependencies
# and the abuse observer), so a key is looked up and charged once per request.
CALLER = "caller"


def known_caller(scope: Scope) -> Caller | None:
    caller = scope.get("state", {}).get(CALLER)
    return caller if isinstance(caller, Caller) else None


async def authenticate(scope: Scope, services: Services, api_key: str | None) -> Caller:
    """The key's owner; a missing, unknown or revoked key is a failed authentication (401,
    or 429 once the address has failed too often; a valid key is served all the same).

    The tier's request budget is the user's, shared by all their keys: more keys, or a
    revoked-and-recreated one, buy no more requests."""
    known = known_caller(scope)
    if known is not None:
        return known
    address = rate_limits.client_address(scope)
    caller = await run_in_threadpool(_key_in_use, services, api_key, address) if api_key else None
    if caller is None:
        await rate_limits.auth_failed(scope, services, address)
        raise Unauthorized()
    scope.setdefault("state", {})[CALLER] = caller
    rules = services.settings.tier_rules[Tier(caller.user.tier)]
    await rate_limits.spend(scope, services, "user", rules.rate_limit, caller.user.id)
    return caller


def _key_in_use(services: Services, api_key: str, address: str) -> Caller | None:
    """The key's owner, the key seen from `address` by the abuse detector: one thread for both."""
    caller = services.keys.authenticate(api_key)
    if caller is not None:
        services.abuse.key_used(caller.key_id, caller.user.id, address)
    return caller


@dataclass(frozen=True)
class StreamCaller:
    """Who opened a stream, and the API key its open stream keeps re-checking."""

    user: User
    key_id: str


async def authenticate_stream(
    scope: Scope, services: Services, api_key: str | None, token: str | None, job_id: str | None
) -> StreamCaller:
    """A stream's caller: by API key (as every request), or by a stream token made for this
    stream (`job_id`'s, or None for /v1/events) whose key is not revoked. A bad token counts as
    a failed authentication; a good one spends its user's budget and is seen by the abuse
    detector, as a key would be."""
    if api_key is not None:
        caller = await authenticate(scope, services, api_key)
        return StreamCaller(user=caller.user, key_id=caller.key_id)
    address = rate_limits.client_address(scope)
    grant = (
        await run_in_threadpool(services.stream_tokens.grant_for, token, job_id) if token else None
    )
    user = await run_in_threadpool(services.accounts.get, grant.user_id) if grant else None
    if grant is None or user is None:
        await rate_limits.auth_failed(scope, services, address)
        raise Unauthorized(
            "Missing, expired or revoked stream token (a token opens only the stream it was made "
            "for), or no API key. Send 'Authorization: Bearer <key>' or a fresh ?token=."
        )
    # Known as the token's key from here on: the abuse observer counts its 404s as the key's.
    scope.setdefault("state", {})[CALLER] = Caller(user=user, key_id=grant.key_id, key_prefix="")
    await run_in_threadpool(services.abuse.key_used, grant.key_id, user.id, address)
    rules = services.settings.tier_rules[Tier(user.tier)]
    await rate_limits.spend(scope, services, "user", rules.rate_limit, user.id)
    return StreamCaller(user=user, key_id=grant.key_id)
