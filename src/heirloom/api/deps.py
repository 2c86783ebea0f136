"""Typed dependencies: the services, the Temporal client and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from heirloom.db.models import User
from heirloom.domain.errors import Forbidden, ServiceUnavailable, Unauthorized
from heirloom.services.accounts import ROLE_ADMIN
from heirloom.services.audit import VIA_ADMIN, VIA_API, Caller
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


async def get_current_user(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    user = await run_in_threadpool(services.accounts.authenticate, credentials.credentials)
    if user is None:
        raise Unauthorized()
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin_user(user: CurrentUser) -> User:
    if user.role != ROLE_ADMIN:
        raise Forbidden("This route needs an admin API key.")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]


async def get_caller(request: Request, user: CurrentUser) -> Caller:
    """The authenticated caller and their client, for the audit log."""
    return Caller(
        actor=user.id,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        via=VIA_ADMIN if user.role == ROLE_ADMIN else VIA_API,
    )


CallerDep = Annotated[Caller, Depends(get_caller)]
