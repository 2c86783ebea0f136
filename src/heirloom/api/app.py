"""The FastAPI application: routes, one error handler, and the process's connections."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from temporalio.client import Client

from heirloom.api import contract
from heirloom.api.middleware.abuse import AbuseObserver
from heirloom.api.middleware.body_limits import RequestLimits
from heirloom.api.middleware.rate_limits import RateLimitMiddleware
from heirloom.api.middleware.request_metrics import RequestMetrics
from heirloom.api.middleware.security_headers import SecurityHeaders, install_cors
from heirloom.api.routes import (
    admin,
    albums,
    checkout,
    docs,
    exports,
    health,
    jobs,
    keys,
    me,
    metrics,
    pricing,
    public_albums,
    public_shares,
    queue,
    shares,
    signup,
    stream_tokens,
    streams,
    stripe_webhook,
    web,
    webhooks,
)
from heirloom.api.version import API_VERSION, VersionHeader
from heirloom.config import Settings
from heirloom.domain import error_reference
from heirloom.domain.errors import (
    HeirloomError,
    InvalidQuery,
    InvalidRequest,
    MethodNotAllowed,
    RouteNotFound,
    UnexpectedError,
)
from heirloom.services.context import Services
from heirloom.services.events.feed import ChangeFeed
from heirloom.starters.webhooks import DeliveryStarter, webhook_dispatch_input

log = logging.getLogger(__name__)

_DESCRIPTION = (
    "Old-photo restoration and colourization jobs, run as Temporal workflows.\n\n"
    "## Errors\n\n"
    'Every error answer is `{"error": {"code", "message", "details"}}`: the code is stable, '
    "the message is meant for people.\n\n" + error_reference.table()
)


def create_app(
    settings: Settings, *, services: Services | None = None, temporal: Client | None = None
) -> FastAPI:
    """Build the API; connects to the database and Temporal on start-up unless handed them."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or Services.build(settings)
        app.state.temporal = temporal or await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace
        )
        app.state.change_feed = ChangeFeed(
            app.state.services.events,
            interval_s=settings.stream_poll_interval_s,
            min_gap_s=settings.stream_min_gap_s,
        )
        await app.state.change_feed.start()
        # Deliveries this process owes (a redelivery, a settlement) start as they commit.
        unsubscribe = DeliveryStarter(
            app.state.temporal,
            app.state.services.webhooks,
            webhook_dispatch_input(settings),
            asyncio.get_running_loop(),
        ).subscribe()
        yield
        unsubscribe()
        await app.state.change_feed.stop()
        if owned:
            app.state.services.close()

    app = FastAPI(
        title="Heirloom",
        version=API_VERSION,
        description=_DESCRIPTION,
        lifespan=lifespan,
        # Served by routes/docs.py from packaged assets, not from a CDN.
        docs_url=None,
        redoc_url=None,
        # operationId = the route function's name (`create_job`): the generated clients' names.
        generate_unique_id_function=_operation_id,
    )
    app.add_middleware(
        RequestLimits,
        max_upload_bytes=settings.max_upload_bytes,
        album_max_bytes=settings.album_max_bytes,
    )
    app.add_middleware(RequestMetrics)
    app.add_middleware(AbuseObserver)
    app.add_middleware(RateLimitMiddleware)
    install_cors(app, settings.cors_allow_origins)
    app.add_middleware(SecurityHeaders, hsts_max_age_s=settings.hsts_max_age_s)
    app.add_middleware(VersionHeader)
    routers = [
        jobs.router,
        albums.router,
        me.router,
        exports.router,
        keys.router,
        pricing.router,
        signup.router,
        checkout.router,
        stripe_webhook.router,
        admin.router,
        health.router,
        queue.router,
        shares.router,
        public_shares.router,
        public_albums.router,
        streams.router,
        stream_tokens.router,
        webhooks.router,
        metrics.router,
    ]
    for router in routers:
        app.include_router(router)
    app.include_router(web.router)
    app.include_router(docs.router)
    web.mount_assets(app)
    docs.mount_assets(app)
    contract.declare_errors(app)

    @app.exception_handler(HeirloomError)
    async def heirloom_error(request: Request, exc: HeirloomError) -> Response:
        # A public share's refusals keep its privacy headers too.
        public = request.url.path.startswith("/s/")
        if public and public_shares.wants_page(request):
            return public_shares.error_page(exc, web.page_headers(settings))
        return _error_response(exc, public_shares.PUBLIC_HEADERS if public else None)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body')}: {err['msg']}"
            for err in exc.errors()
        )
        # A bad address (query or path parameter) is 422; a bad body or header is 400.
        in_address = any(err["loc"][:1] in (("query",), ("path",)) for err in exc.errors())
        error_cls = InvalidQuery if in_address else InvalidRequest
        return _error_response(error_cls(f"Invalid request: {problems}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own words ("Not Found", FastAPI's body-parsing detail) stay out of answers.
        error: HeirloomError
        if exc.status_code == 404:
            error = RouteNotFound()
        elif exc.status_code == 405:
            error = MethodNotAllowed()
        elif exc.status_code < 500:
            error = InvalidRequest()
        else:
            error = UnexpectedError()
        headers = dict(exc.headers or {})
        allow = _allowed_methods(app, request.url.path) if exc.status_code == 405 else None
        if allow:
            headers["Allow"] = allow
        return JSONResponse(
            {"error": error.to_dict()}, status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _error_response(UnexpectedError())

    return app


def _operation_id(route: APIRoute) -> str:
    return route.name


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document as every deployment serves it: it depends on no setting."""
    with tempfile.TemporaryDirectory() as home:
        document: dict[str, Any] = create_app(Settings(home=Path(home))).openapi()
    return document


def _error_response(
    error: HeirloomError, extra_headers: Mapping[str, str] | None = None
) -> JSONResponse:
    headers = dict(extra_headers or {})
    retry_after = error.details.get("retry_after")
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(
        {"error": error.to_dict()}, status_code=error.http_status, headers=headers or None
    )


def _allowed_methods(app: FastAPI, path: str) -> str | None:
    """Every method the OpenAPI document names for this path (Starlette names only the first
    matching route's); None for a path the document does not describe."""
    for template, operations in app.openapi()["paths"].items():
        regex, _, _ = compile_path(template)
        if regex.match(path):
            return ", ".join(sorted(method.upper() for method in operations))
    return None
