"""Typed dependencies: the services, the Temporal client and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from heirloom.api.middleware import authentication, rate_limits
from heirloom.db.models import User
from heirloom.domain.errors import Forbidden, ServiceUnavailable
from heirloom.services.accounts.keys import Caller
from heirloom.services.accounts.users import ROLE_ADMIN
from heirloom.services.context import Services
from heirloom.services.privacy.audit import VIA_ADMIN, VIA_API
from heirloom.services.privacy.audit import Caller as AuditCaller
from heirloom.services.queue.task_queues import TaskQueueReader
from heirloom.temporal.task_queues import TemporalTaskQueues

_bearer = HTTPBearer(auto_error=False)

# The dependencies below only read the app's state: `async def`, so FastAPI calls them on the
# event loop instead of sending each to a worker thread (a plain `def` dependency takes one).


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_temporal(request: Request) -> Client:
    client: Client | None = request.app.state.temporal
    if client is None:
        raise ServiceUnavailable("The job service is not connected to Temporal yet.")
    return client


async def get_task_queues(request: Request) -> TaskQueueReader | None:
    """Temporal's task queues as the services read them; None while Temporal is not connected."""
    client: Client | None = request.app.state.temporal
    return None if client is None else TemporalTaskQueues(client)


ServicesDep = Annotated[Services, Depends(get_services)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
TaskQueuesDep = Annotated[TaskQueueReader | None, Depends(get_task_queues)]


async def get_caller(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The key's owner (already known when the body middleware authenticated the request)."""
    bearer = credentials is not None and credentials.scheme.lower() == "bearer"
    api_key = credentials.credentials if credentials is not None and bearer else None
    return await authentication.authenticate(request.scope, services, api_key)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


async def get_current_user(caller: CurrentCaller) -> User:
    return caller.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin_user(user: CurrentUser) -> User:
    if user.role != ROLE_ADMIN:
        raise Forbidden("This route needs an admin API key.")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]
# On the /v1/admin router, so every admin route needs an admin's key.
AdminOnly = Depends(get_admin_user)


async def upload_budget(request: Request, caller: CurrentCaller, services: ServicesDep) -> None:
    """The stricter budget of uploads, per user (all their keys together), on top of the
    user's request budget."""
    limit = services.settings.rate_limit_uploads
    await rate_limits.spend(request.scope, services, "upload", limit, caller.user.id)


async def share_budget(request: Request, services: ServicesDep) -> None:
    """The per-address budget of public share routes, which carry no API key."""
    limit = services.settings.rate_limit_share
    address = rate_limits.client_address(request.scope)
    await rate_limits.spend(request.scope, services, "share", limit, address)


UploadBudget = Depends(upload_budget)
ShareBudget = Depends(share_budget)


async def get_audit_caller(request: Request, user: CurrentUser) -> AuditCaller:
    """The authenticated caller and their client, for the audit log."""
    return AuditCaller(
        actor=user.id,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        via=VIA_ADMIN if user.role == ROLE_ADMIN else VIA_API,
    )


CallerDep = Annotated[AuditCaller, Depends(get_audit_caller)]


async def get_stream_caller(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[str | None, Query(description="a stream token, for browsers")] = None,
) -> authentication.StreamCaller:
    """The caller of a stream: by API key header, or by a stream token made for this stream
    (the path's job, or /v1/events)."""
    api_key = None
    if credentials is not None:
        api_key = credentials.credentials if credentials.scheme.lower() == "bearer" else ""
    job_id = request.path_params.get("job_id")
    return await authentication.authenticate_stream(
        request.scope, services, api_key, token, job_id if isinstance(job_id, str) else None
    )


StreamCaller = Annotated[authentication.StreamCaller, Depends(get_stream_caller)]
