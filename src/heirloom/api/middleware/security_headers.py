"""Headers every answer carries, and CORS from an allow-list."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What a browser may do with any answer: never sniff a type, never frame it, send no referrer.
_ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """Adds the security headers, `Cache-Control: no-store` to authenticated JSON, and
    Strict-Transport-Security to answers over TLS.

    Over TLS means the request's scheme is https: uvicorn sets it from `X-Forwarded-Proto`
    only for a proxy it trusts (`FORWARDED_ALLOW_IPS`; loopback by default), so a client
    cannot ask for the header over plain HTTP.
    """

    def __init__(self, app: ASGIApp, *, hsts_max_age_s: int = 0) -> None:
        self.app = app
        self.hsts = f"max-age={hsts_max_age_s}; includeSubDomains" if hsts_max_age_s else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authenticated = "authorization" in Headers(scope=scope)
        hsts = self.hsts if scope.get("scheme") == "https" else None

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _ALWAYS.items():
                    headers.setdefault(name, value)
                if hsts is not None:
                    headers["Strict-Transport-Security"] = hsts
                json = headers.get("content-type", "").startswith("application/json")
                if authenticated and json:
                    # A shared cache or the browser's history must never keep account data.
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, add_headers)


def install_cors(app: FastAPI, allow_origins: list[str]) -> None:
    """Cross-origin calls only from the configured origins; none by default."""
    if not allow_origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=allow_origins,
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Heirloom-Version"],
        expose_headers=["RateLimit", "RateLimit-Policy", "Retry-After", "Heirloom-Version"],
        max_age=600,
    )
