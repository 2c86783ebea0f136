"""/v1/me/webhook: the caller's webhook, its signing secret, and the delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from heirloom.api import paging
from heirloom.api.contract import errors
from heirloom.api.deps import CurrentCaller, CurrentUser, ServicesDep
from heirloom.api.paging import NextCursor
from heirloom.db.models import WebhookDelivery, WebhookEndpoint, as_utc
from heirloom.domain.paging import MAX_ROW_ID
from heirloom.services.events.webhooks import WEBHOOK_EVENTS

router = APIRouter(prefix="/v1/me/webhook", tags=["webhooks"])


# The events a webhook may ask for, so the document rejects any other.
WebhookEvent = Literal[
    "job.started", "job.completed", "job.failed", "job.cancelled", "album.completed"
]


def _all_events() -> list[WebhookEvent]:
    return ["job.started", "job.completed", "job.failed", "job.cancelled", "album.completed"]


class WebhookIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            # Without a URL (only a secret, for per-job callback_url): an example that
            # needs no name resolution when tools send it.
            "examples": [{"events": ["job.completed", "job.failed"]}]
        }
    )

    url: str | None = Field(
        default=None,
        min_length=8,
        max_length=2000,
        pattern=r"^https?://[^/?#\s]+",
        description="http(s) URL; none: only a secret, for per-job callbacks",
    )
    events: list[WebhookEvent] = Field(
        default_factory=_all_events,
        max_length=len(WEBHOOK_EVENTS),
    )


class WebhookOut(BaseModel):
    url: str | None
    events: list[str]
    secret: str | None = Field(
        default=None, description="shown once, when the webhook is created or its secret rotated"
    )
    previous_secret_expires_at: datetime | None = None

    @classmethod
    def from_endpoint(cls, endpoint: WebhookEndpoint, secret: str | None = None) -> WebhookOut:
        expires = endpoint.previous_secret_expires_at
        return cls(
            url=endpoint.url,
            events=[e for e in endpoint.events.split(",") if e],
            secret=secret,
            previous_secret_expires_at=as_utc(expires) if expires else None,
        )


class DeliveryOut(BaseModel):
    id: int
    event_id: str
    type: str
    job_id: str
    url: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row: WebhookDelivery) -> DeliveryOut:
        assert row.id is not None
        return cls(
            id=row.id,
            event_id=f"evt_{row.event_id}",
            type=row.type,
            job_id=row.job_id,
            url=row.url,
            state=row.state,
            attempts=row.attempts,
            last_status=row.last_status,
            last_error=row.last_error,
            created_at=as_utc(row.created_at),
            delivered_at=as_utc(row.delivered_at) if row.delivered_at else None,
        )


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryOut]
    next_cursor: NextCursor
    next_before_id: int | None = Field(description="the older form of `next_cursor`")


@router.put("", response_model=WebhookOut)
def set_webhook(body: WebhookIn, caller: CurrentCaller, services: ServicesDep) -> WebhookOut:
    """Send these job events to `url`. The first time, the answer holds the signing secret."""
    endpoint, secret = services.webhooks.configure(
        caller.user.id, body.url, list(body.events), by_key_id=caller.key_id
    )
    return WebhookOut.from_endpoint(endpoint, secret)


@router.get("", response_model=WebhookOut | None)
def get_webhook(user: CurrentUser, services: ServicesDep) -> WebhookOut | None:
    """The caller's webhook; `null` when none is set up."""
    endpoint = services.webhooks.find(user.id)
    return WebhookOut.from_endpoint(endpoint) if endpoint is not None else None


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(user: CurrentUser, services: ServicesDep) -> Response:
    services.webhooks.remove(user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/rotate-secret", response_model=WebhookOut, responses=errors(404))
def rotate_secret(caller: CurrentCaller, services: ServicesDep) -> WebhookOut:
    """A new signing secret; deliveries carry a signature by the old one too until it expires."""
    secret, _ = services.webhooks.rotate_secret(caller.user.id, by_key_id=caller.key_id)
    return WebhookOut.from_endpoint(services.webhooks.get(caller.user.id), secret)


@router.get("/deliveries", response_model=DeliveryPage)
def deliveries(
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    cursor: paging.CursorQuery = None,
) -> DeliveryPage:
    """The delivery log, newest first; pass `next_cursor` back as `cursor` for more."""
    start = paging.before_id(cursor, before_id)
    rows = services.webhooks.deliveries(user.id, limit=limit, before_id=start)
    next_before_id = rows[-1].id if len(rows) == limit else None
    return DeliveryPage(
        deliveries=[DeliveryOut.from_row(row) for row in rows],
        next_cursor=paging.after_id(next_before_id),
        next_before_id=next_before_id,
    )


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
)
def redeliver(
    delivery_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], user: CurrentUser, services: ServicesDep
) -> DeliveryOut:
    """Send a delivery again, with the same event id so the receiver can tell it is a repeat."""
    return DeliveryOut.from_row(services.webhooks.redeliver(user.id, delivery_id))
