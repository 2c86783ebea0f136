"""Typed dependencies: the services, the Temporal client and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from heirloom.api import ratelimit
from heirloom.db.models import User
from heirloom.domain.errors import Forbidden, ServiceUnavailable, Unauthorized
from heirloom.domain.tiers import Tier
from heirloom.services.accounts import ROLE_ADMIN
from heirloom.services.api_keys import Caller
from heirloom.services.context import Services

_bearer = HTTPBearer(auto_error=False)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_temporal(request: Request) -> Client:
    client: Client | None = request.app.state.temporal
    if client is None:
        raise ServiceUnavailable("The job service is not connected to Temporal yet.")
    return client


ServicesDep = Annotated[Services, Depends(get_services)]
TemporalDep = Annotated[Client, Depends(get_temporal)]


async def get_caller(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The key's owner; a missing, unknown or revoked key is a failed authentication."""
    address = ratelimit.client_address(request)
    await ratelimit.check_auth_failures(request, services, address)
    caller = None
    if credentials is not None and credentials.scheme.lower() == "bearer":
        caller = await run_in_threadpool(services.keys.authenticate, credentials.credentials)
    if caller is None:
        await ratelimit.auth_failed(request, services, address)
        raise Unauthorized()
    request.state.caller = caller
    await run_in_threadpool(services.abuse.key_used, caller.key_id, caller.user.id, address)
    rules = services.settings.tier_rules[Tier(caller.user.tier)]
    await ratelimit.spend(request, services, "key", rules.rate_limit, caller.key_id)
    return caller


CurrentCaller = Annotated[Caller, Depends(get_caller)]


async def get_current_user(caller: CurrentCaller) -> User:
    return caller.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin_user(user: CurrentUser) -> User:
    if user.role != ROLE_ADMIN:
        raise Forbidden("This route needs an admin API key.")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]


async def upload_budget(request: Request, caller: CurrentCaller, services: ServicesDep) -> None:
    """The stricter per-key budget of uploads, on top of the key's request budget."""
    limit = services.settings.rate_limit_uploads
    await ratelimit.spend(request, services, "upload", limit, caller.key_id)


async def share_budget(request: Request, services: ServicesDep) -> None:
    """The per-address budget of public share routes, which carry no API key."""
    limit = services.settings.rate_limit_share
    await ratelimit.spend(request, services, "share", limit, ratelimit.client_address(request))


UploadBudget = Depends(upload_budget)
ShareBudget = Depends(share_budget)
