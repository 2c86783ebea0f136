"""Signed webhooks: per-user endpoints, the deliveries owed, the SSRF guard and the signature.

A delivery is owed in the transaction that records its job event (an outbox); when that
transaction commits, the process's listeners (`Webhooks.on_owed`) are woken and start its
delivery workflow at once; a slow scheduled sweep starts whatever a crashed process left owed.
It is sent by an activity that Temporal retries with backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from heirloom.db.engine import Database
from heirloom.db.models import JobEvent, WebhookDelivery, WebhookEndpoint, as_utc, utcnow
from heirloom.domain.errors import InvalidRequest, NotFound
from heirloom.services.events.pinning import (
    Resolver,
    Target,
    post_bounded,
    resolve_target,
    system_resolver,
)

WEBHOOK_EVENTS = (
    "job.started",
    "job.completed",
    "job.failed",
    "job.cancelled",
    "album.completed",
)
SIGNATURE_HEADER = "Heirloom-Signature"
PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
# Set in a session's info when it owes a delivery: its commit wakes the listeners.
_OWED = "heirloom.webhooks.owed"

# Woken after a commit that owes deliveries; answers False once it is gone (its event loop
# closed), and is then dropped.
Waker = Callable[[], bool]


@dataclass(frozen=True)
class Attempt:
    """How one POST went: delivered, or why not (for the log and for the retry)."""

    delivered: bool
    status: int | None
    error: str | None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", hex."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(signing_secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex>[,v1=<hex>]`: one v1 per live secret, so rotation loses nothing."""
    return ",".join(
        [f"t={timestamp}"] + [f"v1={sign(s, timestamp, body)}" for s in signing_secrets]
    )


def check_target(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> Target:
    """Refuse what is not http(s), and (unless allowed) any name resolving to a private,
    loopback, link-local or address-embedding address: a webhook must not reach inside.
    Returns the checked target, whose address is the one to connect to."""
    return resolve_target(url, allow_private=allow_private, resolver=resolver)


@dataclass(frozen=True)
class Subscription:
    """What the user's webhook asks for: whether one is set up, its URL and its event kinds."""

    exists: bool
    url: str | None
    events: str


def subscription_columns(user_id: str | sa.ColumnElement[str]) -> list[sa.ColumnElement[Any]]:
    """Scalar subqueries for the user's `Subscription` (`user_id` a value, or the column of
    the row a statement writes), for the write that appends an event to return: the event
    and its webhook lookup in one statement."""
    endpoint = sa.select(sa.literal(1)).where(col(WebhookEndpoint.user_id) == user_id)
    return [
        sa.exists(endpoint).label("webhook_exists"),
        sa.select(col(WebhookEndpoint.url))
        .where(col(WebhookEndpoint.user_id) == user_id)
        .scalar_subquery()
        .label("webhook_url"),
        sa.select(col(WebhookEndpoint.events))
        .where(col(WebhookEndpoint.user_id) == user_id)
        .scalar_subquery()
        .label("webhook_events"),
    ]


def subscription(session: Session, user_id: str) -> Subscription:
    endpoint = session.get(WebhookEndpoint, user_id)
    if endpoint is None:
        return Subscription(exists=False, url=None, events="")
    return Subscription(exists=True, url=endpoint.url, events=endpoint.events)


def enqueue(
    session: Session,
    event: JobEvent,
    callback_url: str | None,
    found: Subscription | None = None,
) -> None:
    """Owe the event to its user's webhook, if it asked for this kind, and to the job's own
    callback URL (every kind); in the event's transaction. `found` is the user's subscription
    when the write that appended the event returned it (`subscription_columns`); read here
    otherwise."""
    if event.type not in WEBHOOK_EVENTS:
        return
    endpoint = found if found is not None else subscription(session, event.user_id)
    if not endpoint.exists:
        return
    targets = {callback_url} if callback_url else set()
    if endpoint.url and event.type in endpoint.events.split(","):
        targets.add(endpoint.url)
    assert event.id is not None
    if targets:
        session.info[_OWED] = True
    for url in sorted(targets):
        session.add(
            WebhookDelivery(
                event_id=event.id,
                user_id=event.user_id,
                job_id=event.job_id,
                type=event.type,
                url=url,
            )
        )


class Webhooks:
    """Endpoints, secrets and deliveries; the HTTP send is here too, retried by Temporal."""

    def __init__(
        self,
        db: Database,
        *,
        allow_private: bool,
        secret_grace: timedelta,
        request_timeout_s: float,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.db = db
        self.resolver = resolver
        self.allow_private = allow_private
        self.secret_grace = secret_grace
        self.request_timeout_s = request_timeout_s
        self._wakers: list[Waker] = []
        db.on_commit(self._committed)

    def on_owed(self, waker: Waker) -> Callable[[], None]:
        """Wake `waker` after every commit that owes a delivery (it must only schedule work:
        it runs in the committing thread); returns what unsubscribes it."""
        self._wakers.append(waker)

        def unsubscribe() -> None:
            if waker in self._wakers:
                self._wakers.remove(waker)

        return unsubscribe

    def _committed(self, session: Session) -> None:
        if not session.info.pop(_OWED, False):
            return
        for waker in list(self._wakers):
            if not waker() and waker in self._wakers:
                self._wakers.remove(waker)

    def configure(
        self,
        user_id: str,
        url: str | None,
        events: Sequence[str],
        *,
        by_key_id: str | None = None,
    ) -> tuple[WebhookEndpoint, str | None]:
        """Set the user's webhook; returns it and, when it is new, its secret (shown once).

        Without a URL the user holds only the secret, which signs per-job callbacks.
        `by_key_id` (the API key that asked) is recorded as the webhook's last change.
        """
        unknown = sorted(set(events) - set(WEBHOOK_EVENTS))
        if unknown:
            raise InvalidRequest(
                f"events must be a list of: {', '.join(WEBHOOK_EVENTS)} "
                f"(unknown: {', '.join(unknown)})"
            )
        if url is not None:
            self.check_callback(url)
        with self.db.session() as session:
            endpoint = session.get(WebhookEndpoint, user_id)
            new_secret = None
            if endpoint is None:
                new_secret = _new_secret()
                endpoint = WebhookEndpoint(user_id=user_id, url=url, events="", secret=new_secret)
            endpoint.url = url
            endpoint.events = ",".join(e for e in WEBHOOK_EVENTS if e in events)
            endpoint.updated_at = utcnow()
            endpoint.updated_by_key_id = by_key_id
            session.add(endpoint)
            session.flush()
            session.refresh(endpoint)
            return endpoint, new_secret

    def check_callback(self, url: str) -> None:
        """Refuse a target the SSRF guard does not allow."""
        check_target(url, allow_private=self.allow_private, resolver=self.resolver)

    def has_secret(self, user_id: str) -> bool:
        with self.db.session() as session:
            return session.get(WebhookEndpoint, user_id) is not None

    def get(self, user_id: str) -> WebhookEndpoint:
        endpoint = self.find(user_id)
        if endpoint is None:
            raise NotFound("No webhook is set up.")
        return endpoint

    def find(self, user_id: str) -> WebhookEndpoint | None:
        """The user's webhook, or None when none is set up (not an error: a setting left empty)."""
        with self.db.session() as session:
            return session.get(WebhookEndpoint, user_id)

    def remove(self, user_id: str) -> None:
        with self.db.session() as session:
            session.execute(
                sa.delete(WebhookEndpoint).where(col(WebhookEndpoint.user_id) == user_id)
            )

    def rotate_secret(self, user_id: str, *, by_key_id: str | None = None) -> tuple[str, datetime]:
        """A new secret; the old one keeps signing until the returned time. `by_key_id` as in
        `configure`."""
        with self.db.session() as session:
            endpoint = session.get(WebhookEndpoint, user_id)
            if endpoint is None:
                raise NotFound("No webhook is set up.")
            until = utcnow() + self.secret_grace
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_expires_at = until
            endpoint.secret = _new_secret()
            endpoint.updated_by_key_id = by_key_id
            session.add(endpoint)
            return endpoint.secret, until

    def deliveries(
        self, user_id: str, *, limit: int, before_id: int | None
    ) -> list[WebhookDelivery]:
        with self.db.session() as session:
            statement = select(WebhookDelivery).where(col(WebhookDelivery.user_id) == user_id)
            if before_id is not None:
                statement = statement.where(col(WebhookDelivery.id) < before_id)
            return list(
                session.exec(statement.order_by(col(WebhookDelivery.id).desc()).limit(limit))
            )

    def redeliver(self, user_id: str, delivery_id: int) -> WebhookDelivery:
        """Send a delivery again (the same event id): owed anew, to be started once more."""
        with self.db.session() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None or delivery.user_id != user_id:
                raise NotFound("No such delivery.")
            if delivery.state in (PENDING, SENDING):
                return delivery
            delivery.state = PENDING
            session.add(delivery)
            session.info[_OWED] = True
            session.flush()
            session.refresh(delivery)
            return delivery

    def pending(self, limit: int) -> list[tuple[int, int]]:
        """Owed deliveries without a workflow yet: (delivery id, the run to start)."""
        with self.db.session() as session:
            rows = session.exec(
                select(WebhookDelivery.id, WebhookDelivery.run)
                .where(col(WebhookDelivery.state) == PENDING)
                .order_by(col(WebhookDelivery.id))
                .limit(limit)
            )
            return [(int(delivery_id or 0), run + 1) for delivery_id, run in rows]

    def mark_started(self, delivery_id: int, run: int) -> None:
        """Record that run `run`'s workflow exists; a repeat of this changes nothing."""
        with self.db.session() as session:
            session.execute(
                sa.update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id) == delivery_id,
                    col(WebhookDelivery.state) == PENDING,
                    col(WebhookDelivery.run) == run - 1,
                )
                .values(state=SENDING, run=run)
            )

    def send(self, delivery_id: int) -> Attempt:
        """POST the event, signed, and record how it went. A 2xx answer is a delivery."""
        with self.db.session() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                raise NotFound("No such delivery.")
            if delivery.state == DELIVERED:
                return Attempt(delivered=True, status=delivery.last_status, error=None)
            event = session.get(JobEvent, delivery.event_id)
            endpoint = session.get(WebhookEndpoint, delivery.user_id)
            if event is None or endpoint is None:
                return self._record(delivery_id, Attempt(False, None, "webhook or event removed"))
            now = utcnow()
            live = [endpoint.secret]
            expires = endpoint.previous_secret_expires_at
            if endpoint.previous_secret and expires is not None and as_utc(expires) > now:
                live.append(endpoint.previous_secret)
            body = json.dumps(
                {
                    "id": f"evt_{event.id}",
                    "type": event.type,
                    "created_at": as_utc(event.created_at).isoformat(),
                    # An album's event carries the album (services/albums/), a job's the job.
                    ("album" if event.type.startswith("album.") else "job"): json.loads(
                        event.state
                    ),
                },
                separators=(",", ":"),
            ).encode()
            url = delivery.url
        attempt = self._post(url, body, live, event_id=event.id, timestamp=int(now.timestamp()))
        return self._record(delivery_id, attempt)

    def give_up(self, delivery_id: int) -> None:
        """The retry window closed without a delivery."""
        with self.db.session() as session:
            session.execute(
                sa.update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id) == delivery_id, col(WebhookDelivery.state) == SENDING
                )
                .values(state=FAILED)
            )

    def _post(
        self,
        url: str,
        body: bytes,
        signing_secrets: list[str],
        *,
        event_id: int | None,
        timestamp: int,
    ) -> Attempt:
        try:
            # Checked again at send time, resolved once: the connection goes to this address.
            target = check_target(url, allow_private=self.allow_private, resolver=self.resolver)
        except InvalidRequest as err:
            return Attempt(delivered=False, status=None, error=str(err)[:500])
        answer = post_bounded(
            target,
            body,
            {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature_header(signing_secrets, timestamp, body),
                "Heirloom-Event-Id": f"evt_{event_id}",
                "User-Agent": "Heirloom-Webhooks/1",
            },
            deadline_s=self.request_timeout_s,
        )
        if answer.status is None:
            return Attempt(delivered=False, status=None, error=answer.error)
        ok = 200 <= answer.status < 300
        return Attempt(
            delivered=ok,
            status=answer.status,
            error=None if ok else f"answered HTTP {answer.status}",
        )

    def _record(self, delivery_id: int, attempt: Attempt) -> Attempt:
        values: dict[str, object] = {
            "attempts": WebhookDelivery.attempts + 1,
            "last_status": attempt.status,
            "last_error": attempt.error,
        }
        if attempt.delivered:
            values |= {"state": DELIVERED, "delivered_at": utcnow()}
        with self.db.session() as session:
            session.execute(
                sa.update(WebhookDelivery)
                .where(col(WebhookDelivery.id) == delivery_id)
                .values(**values)
            )
        return attempt


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)
