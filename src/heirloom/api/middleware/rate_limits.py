"""Rate limits at the edge: the per-address budget, the helpers routes spend budgets with,
and the IETF RateLimit header fields on every answer (the limiter that counts the budgets is
`services/abuse/rate_limits.py`).

Header syntax follows draft-ietf-httpapi-ratelimit-headers-11 (sections 3 and 4): a
`RateLimit-Policy` list of `"name";q=<quota>;w=<window seconds>` items and a `RateLimit`
list of `"name";r=<remaining>;t=<seconds>` items, one per budget the request spent from;
a refusal is 429 `rate_limited` with `Retry-After` no earlier than the window's end.
"""

from __future__ import annotations

import ipaddress

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heirloom.domain.errors import RateLimited
from heirloom.services.abuse.rate_limits import Verdict
from heirloom.services.context import Services

_VERDICTS = "rate_limits"


# One IPv6 subscriber holds a whole /64 (privacy addresses rotate within it): budgets and abuse
# signals count the /64, as they count one IPv4 address.
IPV6_GROUP_PREFIX = 64


def network_of(host: str) -> str:
    """What budgets count as one client: an IPv4 address, or an IPv6 address's /64."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((address, IPV6_GROUP_PREFIX), strict=False)
        return str(network)
    return str(address)


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return network_of(str(client[0])) if client else "unknown"


def _record(scope_state: dict[str, object], verdict: Verdict) -> None:
    verdicts = scope_state.setdefault(_VERDICTS, [])
    assert isinstance(verdicts, list)
    verdicts.append(verdict)


async def spend(scope: Scope, services: Services, policy: str, limit: str, identifier: str) -> None:
    """Spend one unit of a budget; raise 429 `rate_limited` when it is exhausted."""
    limiter = services.limiter
    if not limiter.enabled:
        return
    verdict = await run_in_threadpool(limiter.hit, policy, limit, identifier)
    _record(scope.setdefault("state", {}), verdict)
    if not verdict.allowed:
        raise RateLimited(retry_after=verdict.reset_s)


async def auth_failed(scope: Scope, services: Services, address: str) -> None:
    """Count a failed authentication against the address's budget and the abuse detector;
    429 once the address is out of that budget, else the caller answers 401.

    Only failures are refused: a valid key from the same address (a shared NAT, an office)
    is checked and served, so a guesser behind that address cannot lock its users out.
    """
    await run_in_threadpool(services.abuse.auth_failed, address)
    if services.limiter.enabled:
        limit = services.settings.rate_limit_auth_failures
        verdict = await run_in_threadpool(services.limiter.hit, "auth-failure", limit, address)
        _record(scope.setdefault("state", {}), verdict)
        if not verdict.allowed:
            raise RateLimited(retry_after=verdict.reset_s)


def _item(name: str) -> str:
    return f'"{name}"'


def rate_limit_headers(verdicts: list[Verdict]) -> dict[str, str]:
    """RateLimit-Policy and RateLimit (and Retry-After after a refusal) for these budgets."""
    policies = ", ".join(f"{_item(v.policy)};q={v.quota};w={v.window_s}" for v in verdicts)
    states = ", ".join(f"{_item(v.policy)};r={v.remaining};t={v.reset_s}" for v in verdicts)
    headers = {"RateLimit-Policy": policies, "RateLimit": states}
    refused = [v.reset_s for v in verdicts if not v.allowed]
    if refused:
        headers["Retry-After"] = str(max(refused))
    return headers


class RateLimitMiddleware:
    """Spends the per-address budget of every request and adds the RateLimit fields."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services: Services | None = (
            getattr(scope["app"].state, "services", None) if "app" in scope else None
        )
        if scope["type"] != "http" or services is None or not services.limiter.enabled:
            await self.app(scope, receive, send)
            return
        limit = services.settings.rate_limit_address
        verdict = await run_in_threadpool(
            services.limiter.hit, "address", limit, client_address(scope)
        )
        state: dict[str, object] = scope.setdefault("state", {})
        _record(state, verdict)
        if not verdict.allowed:
            error = RateLimited(retry_after=verdict.reset_s)
            response = JSONResponse(
                {"error": error.to_dict()},
                status_code=error.http_status,
                headers=rate_limit_headers([verdict]),
            )
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                verdicts = state.get(_VERDICTS)
                if isinstance(verdicts, list) and verdicts:
                    headers = MutableHeaders(scope=message)
                    for name, value in rate_limit_headers(verdicts).items():
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
