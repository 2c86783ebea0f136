"""Typed dependencies: the services, the Temporal client and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from heirloom.api.limits import AUTHENTICATED_USER
from heirloom.db.models import User
from heirloom.domain.errors import Forbidden, ServiceUnavailable, Unauthorized
from heirloom.services.accounts import ROLE_ADMIN
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
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    authenticated: User | None = getattr(request.state, AUTHENTICATED_USER, None)
    if authenticated is not None:
        return authenticated
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


async def get_stream_user(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[str | None, Query(description="a stream token, for browsers")] = None,
) -> User:
    """The caller of a stream: by API key header, or by a stream token in the URL."""
    if credentials is not None:
        return await get_current_user(request, services, credentials)
    user = await run_in_threadpool(stream_token_user, services, token)
    if user is None:
        raise Unauthorized()
    return user


def stream_token_user(services: Services, token: str | None) -> User | None:
    """The user of a live stream token, or None."""
    user_id = services.stream_tokens.user_for(token) if token else None
    return services.accounts.get(user_id) if user_id else None


StreamUser = Annotated[User, Depends(get_stream_user)]
