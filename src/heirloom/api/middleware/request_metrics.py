"""ASGI middleware: each request's latency into a histogram by route template and status."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heirloom.services.ops.metrics import HTTP_REQUEST_DURATION


class RequestMetrics:
    """Labels by the matched route's template (`/v1/jobs/{job_id}`), never the raw path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            HTTP_REQUEST_DURATION.labels(
                method=scope["method"], route=template, status=str(status)
            ).observe(time.perf_counter() - started)
