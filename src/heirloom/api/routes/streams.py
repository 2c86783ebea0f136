"""Live job status: Server-Sent Events and WebSocket streams over the change feed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Scope

from heirloom.api.deps import StreamCaller
from heirloom.api.middleware import rate_limits
from heirloom.api.middleware.authentication import authenticate_stream
from heirloom.db.models import Job, utcnow
from heirloom.domain.errors import HeirloomError, NotFound, Unauthorized
from heirloom.domain.jobs import Stage
from heirloom.services.abuse.stream_caps import StreamCaps, StreamSlot
from heirloom.services.albums.albums import ALBUM_COMPLETED
from heirloom.services.context import Services
from heirloom.services.events.event_log import Event
from heirloom.services.events.feed import ChangeFeed

router = APIRouter(tags=["events"])

# WebSocket close code once the stream's key is revoked: the HTTP status in the 4000 range.
# Refusals before the handshake (401, 404, 429) are plain HTTP answers with the error body.
CLOSE_UNAUTHORIZED = 4401
REVOKED = Unauthorized("The API key of this stream was revoked; the stream is closed.")


def _body(event: Event) -> dict[str, Any]:
    if event.type == "snapshot" and not event.job_id:
        return {"id": event.id, "type": event.type, "jobs": event.state["jobs"]}
    if event.type == ALBUM_COMPLETED:
        return {"id": event.id, "type": event.type, "album": event.state}
    return {"id": event.id, "type": event.type, "job": event.state}


async def _with_queue_place(
    events: AsyncIterator[Event], services: Services
) -> AsyncIterator[Event]:
    """Add the queue position and estimates to the events of a job waiting for a GPU.

    They are computed when the event is sent (as GET /v1/jobs/{id} does); they do not move
    on their own while the job waits: reconnect or GET for fresh figures.
    """
    async for event in events:
        if event.job_id and event.state.get("stage") == Stage.WAITING_FOR_GPU.value:
            place = await run_in_threadpool(_place, services, event.job_id)
            if place is not None:
                event = replace(event, state={**event.state, **place})
        yield event


def _place(services: Services, job_id: str) -> dict[str, Any] | None:
    place = services.gpu_queue.place(services.jobs.get(job_id), utcnow())
    if place is None:
        return None
    return {
        "queue_position": place.position,
        "estimated_start_at": place.estimated_start_at.isoformat(),
        "estimated_finish_at": place.estimated_finish_at.isoformat(),
    }


def _resume_id(raw: str | None) -> int | None:
    return int(raw) if raw is not None and raw.isdigit() else None


class KeyRevoked(Exception):
    """The key a stream was opened with (or whose token opened it) is revoked."""


def _caps(app_state: Any, services: Services) -> StreamCaps:
    caps: StreamCaps | None = getattr(app_state, "stream_caps", None)
    if caps is None:
        settings = services.settings
        caps = app_state.stream_caps = StreamCaps(
            per_user=settings.stream_max_per_user, per_process=settings.stream_max_per_process
        )
    return caps


async def _while_key_live(
    events: AsyncIterator[Event], services: Services, key_id: str
) -> AsyncIterator[Event]:
    """The events, while the key stays unrevoked: it is re-checked every
    HEIRLOOM_STREAM_RECHECK_S, quiet stream or not; `KeyRevoked` once it is revoked."""
    interval = services.settings.stream_recheck_s
    iterator = aiter(events)
    checked = time.monotonic()
    pending: asyncio.Task[Event] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            wait = max(0.0, checked + interval - time.monotonic())
            done, _ = await asyncio.wait({pending}, timeout=wait)
            if time.monotonic() - checked >= interval:
                if not await run_in_threadpool(services.keys.is_live, key_id):
                    raise KeyRevoked
                checked = time.monotonic()
            if pending in done:
                task, pending = pending, None
                try:
                    event = task.result()
                except StopAsyncIteration:
                    return
                yield event
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


async def _sse(
    events: AsyncIterator[Event], services: Services, key_id: str, slot: StreamSlot
) -> EventSourceResponse:
    async def messages() -> AsyncIterator[ServerSentEvent]:
        try:
            async for event in _while_key_live(events, services, key_id):
                yield ServerSentEvent(
                    data=json.dumps(_body(event), separators=(",", ":")),
                    event=event.type,
                    id=str(event.id),
                )
        except KeyRevoked:
            # The last message says why; a reconnect with the same credential is refused.
            yield ServerSentEvent(
                data=json.dumps({"error": REVOKED.to_dict()}, separators=(",", ":")),
                event="error",
            )
        finally:
            slot.release()

    stream = messages()
    # Also when the response never starts the generator (the client left at once).
    weakref.finalize(stream, slot.release)
    keepalive_s = services.settings.stream_keepalive_s
    return EventSourceResponse(
        stream, ping=max(1, round(keepalive_s)), headers={"Cache-Control": "no-store"}
    )


def _feed(app_state: Any) -> ChangeFeed:
    feed: ChangeFeed = app_state.change_feed
    return feed


@router.get("/v1/jobs/{job_id}/events", response_class=EventSourceResponse)
async def job_events(
    job_id: str,
    request: Request,
    caller: StreamCaller,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int | None, Query(ge=0, description="resume after this event id")] = None,
) -> EventSourceResponse:
    """One job's status as Server-Sent Events: a snapshot, every change, then the stream ends.

    Reconnect with `Last-Event-ID` (browsers do it themselves) to get every event missed. The
    stream's key is re-checked every HEIRLOOM_STREAM_RECHECK_S: once it is revoked, an `error`
    event says so and the stream ends. 429 `too_many_streams` past the open-stream caps.
    """
    services: Services = request.app.state.services
    user = caller.user
    job: Job = await run_in_threadpool(services.jobs.get_owned, user.id, job_id)
    slot = _caps(request.app.state, services).acquire(user.id)
    resume = after if after is not None else _resume_id(last_event_id)
    events = _feed(request.app.state).follow(user.id, job, after_id=resume)
    return await _sse(_with_queue_place(events, services), services, caller.key_id, slot)


@router.get("/v1/events", response_class=EventSourceResponse)
async def all_events(
    request: Request,
    caller: StreamCaller,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int | None, Query(ge=0, description="resume after this event id")] = None,
) -> EventSourceResponse:
    """Every change of all the caller's jobs: a snapshot of the unfinished ones, then changes.

    Its key is re-checked as on a job's stream; 429 `too_many_streams` past the caps."""
    services: Services = request.app.state.services
    slot = _caps(request.app.state, services).acquire(caller.user.id)
    resume = after if after is not None else _resume_id(last_event_id)
    events = _feed(request.app.state).follow(caller.user.id, after_id=resume)
    return await _sse(events, services, caller.key_id, slot)


@router.get("/v1/albums/{album_id}/events", response_class=EventSourceResponse)
async def album_events(
    album_id: str,
    request: Request,
    caller: StreamCaller,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int | None, Query(ge=0, description="resume after this event id")] = None,
) -> EventSourceResponse:
    """Every change of an album's photos, from the album's start (or after `Last-Event-ID`),
    then `album.completed`, and the stream ends. Keys and caps as on a job's stream."""
    services: Services = request.app.state.services
    user = caller.user
    album = await run_in_threadpool(services.albums.get_owned, user.id, album_id)
    jobs = await run_in_threadpool(services.albums.jobs, album_id)
    slot = _caps(request.app.state, services).acquire(user.id)
    resume = after if after is not None else _resume_id(last_event_id)
    followed = _feed(request.app.state).follow(user.id, after_id=resume or album.first_event_id)
    events = _of_album(followed, album_id, {job.id for job in jobs})
    return await _sse(_with_queue_place(events, services), services, caller.key_id, slot)


async def _of_album(
    events: AsyncIterator[Event], album_id: str, job_ids: set[str]
) -> AsyncIterator[Event]:
    """The events of the album's photos, then the album's own end, after which it stops."""
    async for event in events:
        if event.job_id == album_id and event.type == ALBUM_COMPLETED:
            yield event
            return
        if event.job_id in job_ids:
            yield event


async def _refuse(websocket: WebSocket, error: HeirloomError) -> None:
    """Answer the handshake with the error as plain HTTP (no WebSocket is opened)."""
    headers = {}
    retry_after = error.details.get("retry_after")
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    response = JSONResponse(
        {"error": error.to_dict()}, status_code=error.http_status, headers=headers or None
    )
    await websocket.send_denial_response(response)


async def _socket_caller(
    scope: Scope, services: Services, websocket: WebSocket, token: str | None, job_id: str
) -> tuple[StreamCaller, Job, StreamSlot]:
    """Everything checked before the handshake is accepted: the address's budget, the
    credential (with its key's budget and the abuse signals), the job's owner and the caps."""
    if services.limiter.enabled:
        address = rate_limits.client_address(scope)
        limit = services.settings.rate_limit_address
        await rate_limits.spend(scope, services, "address", limit, address)
    header = websocket.headers.get("authorization")
    api_key = None
    if header is not None:
        scheme, _, key = header.partition(" ")
        api_key = key if scheme.lower() == "bearer" else ""
    caller = await authenticate_stream(scope, services, api_key, token, job_id)
    try:
        job = await run_in_threadpool(services.jobs.get_owned, caller.user.id, job_id)
    except NotFound:
        # As a 404 on a job's HTTP route: job ids probed over WebSockets are seen too.
        address = rate_limits.client_address(scope)
        monitor = services.abuse
        await run_in_threadpool(monitor.job_not_found, caller.key_id, caller.user.id, address)
        raise
    slot = _caps(websocket.app.state, services).acquire(caller.user.id)
    return caller, job, slot


@router.websocket("/v1/jobs/{job_id}/ws")
async def job_socket(
    websocket: WebSocket,
    job_id: str,
    token: str | None = None,
    after: int | None = None,
) -> None:
    """One job's status over a WebSocket: JSON messages with ids; `after=<id>` resumes.

    Authenticates by the Authorization header or a stream token made for this job (`?token=`)
    before the handshake: a bad credential is refused with HTTP 401, another user's job 404,
    and a stream past the caps or budgets 429, each with the error body. Closes with 1000
    after the final state, and with 4401 once the stream's key is revoked (re-checked every
    HEIRLOOM_STREAM_RECHECK_S).
    """
    services: Services = websocket.app.state.services
    try:
        caller, job, slot = await _socket_caller(
            websocket.scope, services, websocket, token, job_id
        )
    except HeirloomError as error:
        await _refuse(websocket, error)
        return
    try:
        await websocket.accept()
        events = _feed(websocket.app.state).follow(caller.user.id, job, after_id=after)
        live = _while_key_live(_with_queue_place(events, services), services, caller.key_id)
        async for event in live:
            await websocket.send_json(_body(event))
    except WebSocketDisconnect:
        return
    except KeyRevoked:
        with contextlib.suppress(WebSocketDisconnect):
            await websocket.close(code=CLOSE_UNAUTHORIZED, reason="the API key was revoked")
        return
    finally:
        slot.release()
    with contextlib.suppress(WebSocketDisconnect):
        await websocket.close(code=1000, reason="final state")
