"""The API's version: a date, as CHANGELOG.md's newest entry names it (README, "Versions").

Additive changes keep the version; a breaking change gets a new date, and the answers of the
older version stay what they were for clients that send `Heirloom-Version` with its date. The
OpenAPI document's `info.version` and every answer's `Heirloom-Version` header carry it.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_VERSION = "2026-12-07"
HEADER = "Heirloom-Version"


class VersionHeader:
    """Adds `Heirloom-Version` to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault(HEADER, API_VERSION)
            await send(message)

        await self.app(scope, receive, add_header)
