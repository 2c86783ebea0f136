"""/v1/me/webhook: the caller's webhook, its signing secret, and the delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from heirloom.api.contract import errors
from heirloom.api.deps import CurrentCaller, CurrentUser, ServicesDep
from heirloom.db.models import WebhookDelivery, WebhookEndpoint, as_utc
from heirloom.services.events.webhooks import WEBHOOK_EVENTS

router = APIRouter(prefix="/v1/me/webhook", tags=["webhooks"])


# The events a webhook may ask for, so the document rejects any other.
WebhookEvent = Literal[
    "job.started", "job.completed", "job.failed", "job.cancelled", "album.completed"
]


def _all_events() -> list[WebhookEvent]:
    return ["job.started", "job.completed", "job.failed", "job.cancelled", "album.completed"]


class WebhookIn(BaseModel):
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
    next_before_id: int | None


@router.put("", response_model=WebhookOut)
def set_webhook(body: WebhookIn, caller: CurrentCaller, services: ServicesDep) -> WebhookOut:
    """Send these job events to `url`. The first time, the answer holds the signing secret."""
    endpoint, secret = services.webhooks.configure(
        caller.user.id, body.url, list(body.events), by_key_id=caller.key_id
    )
    return WebhookOut.from_endpoint(endpoint, secret)


@router.get("", response_model=WebhookOut, responses=errors(404))
def get_webhook(user: CurrentUser, services: ServicesDep) -> WebhookOut:
    return WebhookOut.from_endpoint(services.webhooks.get(user.id))


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
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> DeliveryPage:
    """The delivery log, newest first; pass `next_before_id` back as `before_id` for more."""
    rows = services.webhooks.deliveries(user.id, limit=limit, before_id=before_id)
    return DeliveryPage(
        deliveries=[DeliveryOut.from_row(row) for row in rows],
        next_before_id=rows[-1].id if len(rows) == limit else None,
    )


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
)
def redeliver(delivery_id: int, user: CurrentUser, services: ServicesDep) -> DeliveryOut:
    """Send a delivery again, with the same event id so the receiver can tell it is a repeat."""
    return DeliveryOut.from_row(services.webhooks.redeliver(user.id, delivery_id))
