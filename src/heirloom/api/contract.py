"""The error part of the OpenAPI contract: every status a route can answer, one error schema.

Statuses that follow from how a route is built (it authenticates, is admin-only, has path
parameters, reads a body, talks to Temporal) are derived here for every route, so a new
route is declared correctly without thinking about it; statuses that follow from what a
route does (402, 409, ...) are declared on the route with `errors(...)`. How a route is built
includes the routers it is mounted under: their dependencies are the route's too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
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


def statuses_of(route: RouteContext) -> set[int]:
    """The error statuses a route, as mounted, can answer because of how it is built."""
    # Every answer can be refused by the per-address budget or fail unexpectedly.
    statuses = {429, 500}
    dependant: Dependant = route.dependant
    calls = set(_calls(dependant))
    if deps.get_caller in calls or deps.get_stream_caller in calls:
        statuses.add(401)
    if deps.get_admin_user in calls:
        statuses.add(403)
    if deps.get_temporal in calls:
        statuses.add(503)
    if dependant.path_params:
        statuses.add(404)
    # Parameters of sub-dependencies (a shared time window) are validated the same way.
    if _has_parameters(dependant):
        statuses.update({400, 422})
    if route.body_field is not None:
        statuses.update({400, 422})
    if (route.methods or set()) & {"POST", "PUT", "PATCH"}:
        statuses.add(413)  # the body-size limit answers before any route runs
    return statuses


def declare_errors(app: FastAPI) -> None:
    """Add the derived error statuses to the OpenAPI responses of every documented route.

    Run once the app includes its routers, so each route is seen as mounted, with the
    dependencies of the routers above it; repeating it is harmless.
    """
    for mounted in iter_route_contexts(app.routes):
        route = mounted.original_route
        if not isinstance(route, APIRoute) or not mounted.include_in_schema:
            continue
        for status in statuses_of(mounted):
            # FastAPI reads a response's schema from fields it builds when the route is made.
            field = create_model_field(
                name=f"Response_{status}_{mounted.unique_id}",
                type_=ErrorResponse,
                mode="serialization",
            )
            # The mounted copy is what the document shows; the route itself keeps the statuses
            # too, for when FastAPI builds the copy again (after a router gains a route).
            for target in (mounted, route):
                if status not in target.responses:
                    target.responses[status] = _error(status)
                    target.response_fields[status] = field
