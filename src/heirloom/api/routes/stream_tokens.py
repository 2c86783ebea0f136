"""/v1/stream-tokens: short-lived tokens for streams opened where headers cannot be set."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel

from heirloom.api.deps import CurrentUser, ServicesDep

router = APIRouter(prefix="/v1/stream-tokens", tags=["events"])


class StreamTokenOut(BaseModel):
    token: str
    expires_at: datetime


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StreamTokenOut)
def create_stream_token(user: CurrentUser, services: ServicesDep) -> StreamTokenOut:
    """A token for `?token=` on a job's WebSocket or event stream; it expires in minutes."""
    issued = services.stream_tokens.issue(user.id)
    return StreamTokenOut(token=issued.token, expires_at=issued.expires_at)
