"""Live job status: Server-Sent Events and WebSocket streams over the change feed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse, ServerSentEvent

from heirloom.api.deps import StreamUser, stream_token_user
from heirloom.db.models import Job, utcnow
from heirloom.domain.errors import NotFound
from heirloom.domain.jobs import Stage
from heirloom.services.context import Services
from heirloom.services.events.event_log import Event
from heirloom.services.events.feed import ChangeFeed

router = APIRouter(tags=["events"])

# WebSocket close codes: the HTTP status in the 4000 range, as is customary.
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404


def _body(event: Event) -> dict[str, Any]:
    if event.type == "snapshot" and not event.job_id:
        return {"id": event.id, "type": event.type, "jobs": event.state["jobs"]}
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


async def _sse(events: AsyncIterator[Event], keepalive_s: float) -> EventSourceResponse:
    async def messages() -> AsyncIterator[ServerSentEvent]:
        async for event in events:
            yield ServerSentEvent(
                data=json.dumps(_body(event), separators=(",", ":")),
                event=event.type,
                id=str(event.id),
            )

    return EventSourceResponse(
        messages(), ping=max(1, round(keepalive_s)), headers={"Cache-Control": "no-store"}
    )


def _feed(app_state: Any) -> ChangeFeed:
    feed: ChangeFeed = app_state.change_feed
    return feed


@router.get("/v1/jobs/{job_id}/events", response_class=EventSourceResponse)
async def job_events(
    job_id: str,
    request: Request,
    user: StreamUser,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int | None, Query(ge=0, description="resume after this event id")] = None,
) -> EventSourceResponse:
    """One job's status as Server-Sent Events: a snapshot, every change, then the stream ends.

    Reconnect with `Last-Event-ID` (browsers do it themselves) to get every event missed.
    """
    services: Services = request.app.state.services
    job: Job = await run_in_threadpool(services.jobs.get_owned, user.id, job_id)
    resume = after if after is not None else _resume_id(last_event_id)
    events = _feed(request.app.state).follow(user.id, job, after_id=resume)
    return await _sse(_with_queue_place(events, services), services.settings.stream_keepalive_s)


@router.get("/v1/events", response_class=EventSourceResponse)
async def all_events(
    request: Request,
    user: StreamUser,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int | None, Query(ge=0, description="resume after this event id")] = None,
) -> EventSourceResponse:
    """Every change of all the caller's jobs: a snapshot of the unfinished ones, then changes."""
    services: Services = request.app.state.services
    resume = after if after is not None else _resume_id(last_event_id)
    events = _feed(request.app.state).follow(user.id, after_id=resume)
    return await _sse(events, services.settings.stream_keepalive_s)


@router.websocket("/v1/jobs/{job_id}/ws")
async def job_socket(
    websocket: WebSocket,
    job_id: str,
    token: str | None = None,
    after: int | None = None,
) -> None:
    """One job's status over a WebSocket: JSON messages with ids; `after=<id>` resumes.

    Authenticates by the Authorization header or a stream token (`?token=`); closes with 4401
    for a bad credential, 4404 for a job the caller does not own, 1000 after the final state.
    """
    services: Services = websocket.app.state.services
    # Accept first: a close before accepting reaches the client as a bare HTTP 403.
    await websocket.accept()
    user = await run_in_threadpool(_socket_user, services, websocket, token)
    if user is None:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="unauthorized")
        return
    try:
        job = await run_in_threadpool(services.jobs.get_owned, user, job_id)
    except NotFound:
        await websocket.close(code=CLOSE_NOT_FOUND, reason="no such job")
        return
    try:
        events = _feed(websocket.app.state).follow(user, job, after_id=after)
        async for event in _with_queue_place(events, services):
            await websocket.send_json(_body(event))
    except WebSocketDisconnect:
        return
    await websocket.close(code=1000, reason="final state")


def _socket_user(services: Services, websocket: WebSocket, token: str | None) -> str | None:
    header = websocket.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() == "bearer" and key:
        caller = services.keys.authenticate(key)
        return caller.user.id if caller is not None else None
    found = stream_token_user(services, token)
    return found.id if found is not None else None
