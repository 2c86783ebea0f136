"""Feeds answers to the abuse detector: 404s on job ids and the bytes of downloads, per key."""

from __future__ import annotations

import re
import time

from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heirloom.api.middleware.authentication import known_caller
from heirloom.api.middleware.rate_limits import client_address
from heirloom.services.accounts.keys import Caller
from heirloom.services.context import Services

_JOB_PATH = re.compile(r"^/v1/jobs/[^/]+(/[a-z]+)?$")
_DOWNLOAD_PATH = re.compile(r"^/v1/jobs/[^/]+/(result|thumbnail|comparison)$")


class AbuseObserver:
    """Before each authenticated answer leaves, tells the monitor what the key is answered.

    Observing at the start of the answer (not after it) means an auto-suspension holds
    before the client can send its next request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def observe(message: Message) -> None:
            caller = known_caller(scope)
            if message["type"] == "http.response.start" and caller is not None:
                answer = {"status": message["status"]}
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-length" and value.isdigit():
                        answer["length"] = int(value)
                services: Services = scope["app"].state.services
                await run_in_threadpool(_observe, services, scope, caller, answer)
            await send(message)

        await self.app(scope, receive, observe)


def _observe(services: Services, scope: Scope, caller: Caller, answer: dict[str, int]) -> None:
    path: str = scope["path"]
    address = client_address(scope)
    status = answer["status"]
    monitor = services.abuse
    if status == 404 and _JOB_PATH.match(path):
        monitor.job_not_found(caller.key_id, caller.user.id, address)
    elif status == 200 and _DOWNLOAD_PATH.match(path) and "length" in answer:
        size = answer["length"]
        monitor.downloaded(caller.key_id, caller.user.id, address, size, now=time.time())
