"""The error part of the OpenAPI contract: every status a route can answer, one error schema.

Statuses that follow from how a route is built (it authenticates, is admin-only, has path
parameters, reads a body, talks to Temporal) are derived here for every route, so a new
route is declared correctly without thinking about it; statuses that follow from what a
route does (402, 409, ...) are declared on the route with `errors(...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.utils import create_model_field

from heirloom.api import deps
from heirloom.api.schemas import ErrorResponse

_RATE_LIMIT_HEADERS = {
    "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}},
    "RateLimit": {
        "description": "draft-ietf-httpapi-ratelimit-headers",
        "schema": {"type": "string"},
    },
    "RateLimit-Policy": {
        "description": "draft-ietf-httpapi-ratelimit-headers",
        "schema": {"type": "string"},
    },
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: these statuses answer with the shared error body."""
    return {status: _error(status) for status in statuses}


def _error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "model": ErrorResponse,
        "description": HTTPStatus(status).phrase,
    }
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        response["headers"] = _RATE_LIMIT_HEADERS
    return response


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _has_parameters(dependant: Dependant) -> bool:
    if dependant.query_params or dependant.header_params or dependant.path_params:
        return True
    return any(_has_parameters(sub) for sub in dependant.dependencies)


def statuses_of(route: APIRoute) -> set[int]:
    """The error statuses a route can answer because of how it is built."""
    # Every answer can be refused by the per-address budget or fail unexpectedly.
    statuses = {429, 500}
    calls = set(_calls(route.dependant))
    if deps.get_caller in calls or deps.get_stream_user in calls:
        statuses.add(401)
    if deps.get_admin_user in calls:
        statuses.add(403)
    if deps.get_temporal in calls:
        statuses.add(503)
    if route.dependant.path_params:
        statuses.add(404)
    # Parameters of sub-dependencies (a shared time window) are validated the same way.
    if _has_parameters(route.dependant):
        statuses.update({400, 422})
    if route.body_field is not None:
        statuses.update({400, 422})
    if (route.methods or set()) & {"POST", "PUT", "PATCH"}:
        statuses.add(413)  # the body-size limit answers before any route runs
    return statuses


def declare_errors(routers: Iterable[APIRouter]) -> None:
    """Add the derived error statuses to the OpenAPI responses of every route of `routers`.

    Run on each router before the app includes it (FastAPI builds the included routes from
    the router's own); repeating it is harmless.
    """
    for route in (route for router in routers for route in router.routes):
        if not isinstance(route, APIRoute):
            continue
        for status in statuses_of(route):
            if status in route.responses:
                continue
            route.responses[status] = _error(status)
            # FastAPI reads a response's schema from fields it builds when the route is made.
            route.response_fields[status] = create_model_field(
                name=f"Response_{status}_{route.unique_id}",
                type_=ErrorResponse,
                mode="serialization",
            )
