"""Feeds answers to the abuse detector: 404s on job ids and the bytes of downloads, per key."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import partial

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
                services: Services = scope["app"].state.services
                report = _report(services, scope, caller, message)
                if report is not None:
                    await run_in_threadpool(report)
            await send(message)

        await self.app(scope, receive, observe)


def _report(
    services: Services, scope: Scope, caller: Caller, message: Message
) -> Callable[[], object] | None:
    """What the monitor is told of this answer: a 404 on a job id, or a download's size; None
    for every other answer, which then takes no thread."""
    path: str = scope["path"]
    status = message["status"]
    monitor = services.abuse
    if status == 404 and _JOB_PATH.match(path):
        return partial(monitor.job_not_found, caller.key_id, caller.user.id, client_address(scope))
    if status == 200 and _DOWNLOAD_PATH.match(path):
        for name, value in message.get("headers", []):
            if name.lower() == b"content-length" and value.isdigit():
                return partial(
                    monitor.downloaded,
                    caller.key_id,
                    caller.user.id,
                    client_address(scope),
                    int(value),
                    now=time.time(),
                )
    return None
