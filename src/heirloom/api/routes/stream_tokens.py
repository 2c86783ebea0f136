"""/v1/stream-tokens: short-lived tokens for streams opened where headers cannot be set."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from heirloom.api.contract import errors
from heirloom.api.deps import CurrentCaller, ServicesDep

router = APIRouter(prefix="/v1/stream-tokens", tags=["events"])


class StreamTokenIn(BaseModel):
    job_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="the job whose stream the token opens; none: the /v1/events stream",
    )


class StreamTokenOut(BaseModel):
    token: str
    expires_at: datetime
    job_id: str | None = Field(description="the job whose stream it opens; none: /v1/events")


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=StreamTokenOut, responses=errors(404)
)
def create_stream_token(
    caller: CurrentCaller, services: ServicesDep, body: StreamTokenIn | None = None
) -> StreamTokenOut:
    """A token for `?token=` on one stream: the job's WebSocket or event stream when `job_id`
    is given, else `/v1/events`. It opens that stream only, expires in minutes
    (HEIRLOOM_STREAM_TOKEN_TTL_S), and is refused once the key that made it is revoked."""
    job_id = body.job_id if body is not None else None
    if job_id is not None:
        services.jobs.get_owned(caller.user.id, job_id)  # 404 for another user's job
    issued = services.stream_tokens.issue(caller.user.id, caller.key_id, job_id)
    return StreamTokenOut(token=issued.token, expires_at=issued.expires_at, job_id=issued.job_id)
