"""The FastAPI application: routes, one error handler, and the process's connections."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.client import Client

import heirloom
from heirloom.api.routes import admin, events, jobs, me, pricing, stream_tokens
from heirloom.config import Settings
from heirloom.domain.errors import HeirloomError, ImageTooLarge, InternalError
from heirloom.services.change_feed import ChangeFeed
from heirloom.services.context import Services

log = logging.getLogger(__name__)


# Multipart framing around the photo: boundaries, part headers, the operations field.
_MULTIPART_OVERHEAD = 64 * 1024


class UploadLimit:
    """Refuse a declared body larger than the upload limit before anything is read or spooled."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes + _MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_bytes:
                limit = (self.max_bytes - _MULTIPART_OVERHEAD) / 1e6
                error = ImageTooLarge(f"The upload is larger than the {limit:.0f} MB limit.")
                response = JSONResponse({"error": error.to_dict()}, status_code=413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
        yield
        await app.state.change_feed.stop()
        if owned:
            app.state.services.close()

    app = FastAPI(
        title="Heirloom",
        version=heirloom.__version__,
        description="Old-photo restoration and colourization jobs, run as Temporal workflows.",
        lifespan=lifespan,
    )
    app.add_middleware(UploadLimit, max_bytes=settings.max_upload_bytes)
    app.include_router(jobs.router)
    app.include_router(me.router)
    app.include_router(pricing.router)
    app.include_router(admin.router)
    app.include_router(events.router)
    app.include_router(stream_tokens.router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.exception_handler(HeirloomError)
    async def heirloom_error(_request: Request, exc: HeirloomError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body')}: {err['msg']}"
            for err in exc.errors()
        )
        body = {"code": "invalid_request", "message": f"Invalid request: {problems}"}
        return JSONResponse({"error": body}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        body = {"code": code, "message": str(exc.detail)}
        return JSONResponse({"error": body}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse({"error": InternalError().to_dict()}, status_code=500)

    return app
