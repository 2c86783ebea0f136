"""Request limits enforced before routing: the API key first, then the body size as it streams.

FastAPI reads and spools a whole body before any dependency runs, so neither the size check in
the route nor authentication could stop a 4 GB chunked upload. This middleware decides from the
headers alone whether the caller may send a body at all (401 at once, nothing read), refuses a
declared Content-Length over the limit at once (413), and counts the bytes of a body while it
streams, answering 413 as soon as the limit plus a small margin is passed. Every refusal closes
the connection, so the server stops reading what the client keeps sending.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heirloom.api.middleware import authentication
from heirloom.domain.errors import (
    HeirloomError,
    ImageTooLarge,
    InvalidQuery,
    RequestTooLarge,
)
from heirloom.services.context import Services

# Multipart framing around the photo: boundaries, part headers, the operations field.
MULTIPART_OVERHEAD = 64 * 1024
# JSON bodies (admin routes) are a few hundred bytes.
JSON_BODY_LIMIT = 64 * 1024
UPLOAD_ROUTES = frozenset({("POST", "/v1/jobs")})
# Many photos in one request: their own limit, all together (each photo is checked in the route).
ALBUM_ROUTES = frozenset({("POST", "/v1/albums")})
# Routes without an API key: their own rules authenticate them (a sign-up's rate limits and
# link, Stripe's signature).
PUBLIC_PREFIXES = ("/v1/pricing", "/v1/signup", "/v1/stripe/")


class _BodyTooLarge(Exception):
    """Raised into the app when the streamed body passes the limit."""


class RequestLimits:
    """Refuse unauthenticated bodies, oversized bodies and NUL bytes in the address, early."""

    def __init__(self, app: ASGIApp, *, max_upload_bytes: int, album_max_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.album_max_bytes = album_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\0" in scope["path"] or b"\0" in unquote_to_bytes(scope["query_string"]):
            await _refuse(scope, receive, send, InvalidQuery("The address contains a NUL byte."))
            return
        headers = dict(scope["headers"])
        if not _has_body(headers):
            await self.app(scope, receive, send)
            return
        if _needs_key(scope["path"]):
            try:
                await self._authenticate(scope, headers.get(b"authorization"))
            except HeirloomError as refusal:  # 401, or 429 for an address that failed too often
                await _refuse(scope, receive, send, refusal)
                return
        limit, too_large = self._limit(scope)
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _refuse(scope, receive, send, too_large)
            return
        await self._counted(scope, receive, send, limit, too_large)

    def _limit(self, scope: Scope) -> tuple[int, HeirloomError]:
        route = (scope["method"], scope["path"].rstrip("/"))
        if route in ALBUM_ROUTES:
            megabytes = self.album_max_bytes / 1e6
            error = ImageTooLarge(f"The album is larger than the {megabytes:.0f} MB limit.")
            return self.album_max_bytes, error
        if route in UPLOAD_ROUTES:
            megabytes = self.max_upload_bytes / 1e6
            error = ImageTooLarge(f"The upload is larger than the {megabytes:.0f} MB limit.")
            return self.max_upload_bytes + MULTIPART_OVERHEAD, error
        return JSON_BODY_LIMIT, RequestTooLarge()

    async def _authenticate(self, scope: Scope, authorization: bytes | None) -> None:
        scheme, _, key = (authorization or b"").decode("latin-1").partition(" ")
        api_key = key.strip() if scheme.lower() == "bearer" and key.strip() else None
        services: Services = scope["app"].state.services
        await authentication.authenticate(scope, services, api_key)

    async def _counted(
        self, scope: Scope, receive: Receive, send: Send, limit: int, too_large: HeirloomError
    ) -> None:
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise _BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Whatever the app makes of the interrupted body (FastAPI: a 400), the answer is 413.
            if exceeded:
                if not started:
                    started = True
                    await _refuse(scope, receive, send, too_large)
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLarge:
            if not started:
                await _refuse(scope, receive, send, too_large)


def _has_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length")
    return b"transfer-encoding" in headers or (length is not None and length.strip() != b"0")


def _needs_key(path: str) -> bool:
    return path.startswith("/v1/") and not path.startswith(PUBLIC_PREFIXES)


async def _refuse(scope: Scope, receive: Receive, send: Send, error: HeirloomError) -> None:
    response = JSONResponse(
        {"error": error.to_dict()},
        status_code=error.http_status,
        headers={"Connection": "close"},
    )
    await response(scope, receive, send)
