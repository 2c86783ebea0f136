"""Purchases of credit packs and the forever tier through Stripe Checkout.

A checkout makes a purchase row; Stripe's signed webhooks then settle it. Every effect is
keyed so it happens once whatever Stripe repeats or reorders: an event id is recorded in the
transaction of its effects, the ledger's unique keys credit a session once and take back each
refunded share once, and money movements are keyed by session and by cumulative refund.
Refunds and disputes are kept by payment id, so one that arrives before its session's
completion is applied when the completion lands. Credits taken back never take a balance
below zero: what the balance cannot cover becomes the user's debt, which blocks new jobs
until a purchase or a grant pays it back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from heirloom.db.engine import Database
from heirloom.db.models import (
    CreditEntry,
    MoneyMovement,
    PaymentReversal,
    Purchase,
    StripeEvent,
    TierChange,
    User,
    as_utc,
    utcnow,
)
from heirloom.db.paging import Page, SortKey, keyset, page_of
from heirloom.domain.errors import Conflict, InvalidRequest, NotFound
from heirloom.domain.packs import Pack, credits_to_take_back, find_pack, tier_revoked
from heirloom.domain.paging import Cursor
from heirloom.domain.tiers import Tier
from heirloom.services.money.credits import CLAWBACK, PURCHASE
from heirloom.services.money.stripe_api import StripeApi
from heirloom.services.results.retention import Retention

log = logging.getLogger(__name__)

OPEN = "open"
PAID = "paid"
REFUNDED = "refunded"
DISPUTED = "disputed"

COMPLETED_EVENT = "checkout.session.completed"
REFUNDED_EVENT = "charge.refunded"
DISPUTED_EVENT = "charge.dispute.created"
HANDLED_EVENTS = frozenset({COMPLETED_EVENT, REFUNDED_EVENT, DISPUTED_EVENT})


@dataclass(frozen=True)
class CheckoutStarted:
    """Where the buyer pays, and the purchase it will settle."""

    purchase_id: str
    url: str


@dataclass(frozen=True)
class WebhookOutcome:
    """What a verified webhook did: `duplicate` when its event id was already handled."""

    event_id: str
    type: str
    duplicate: bool
    handled: bool


@dataclass(frozen=True)
class Receipt:
    """A purchase as its buyer (and operators) see it."""

    id: str
    user_id: str
    pack_id: str
    credits: int
    price_minor: int
    currency: str
    tier: str | None
    status: str
    paid_minor: int
    reversed_minor: int
    credits_taken_back: int
    created_at: datetime
    paid_at: datetime | None


class Purchases:
    """Checkout, the Stripe webhook, refunds from the dashboard, and receipts."""

    def __init__(
        self,
        db: Database,
        stripe_api: StripeApi,
        retention: Retention,
        *,
        packs: tuple[Pack, ...],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.stripe = stripe_api
        self.retention = retention
        self.packs = packs
        self.clock = clock

    # --- checkout ------------------------------------------------------------------------

    def checkout(
        self, user_id: str, pack_id: str, *, success_url: str, cancel_url: str
    ) -> CheckoutStarted:
        """Create a Checkout Session for the pack and its purchase row."""
        pack = find_pack(self.packs, pack_id)
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound("No such user.")
            if pack.tier is not None and user.tier == pack.tier.value:
                raise Conflict(f"Your account is already on the {pack.tier.value} tier.")
            email = user.email
        made = self.stripe.create_checkout(
            pack, user_id=user_id, email=email, success_url=success_url, cancel_url=cancel_url
        )
        with self.db.session() as session:
            if session.get(Purchase, made.id) is not None:
                # Its webhook came first and wrote the purchase from the session's metadata.
                return CheckoutStarted(purchase_id=made.id, url=made.url)
            session.add(self._opened(made.id, user_id, pack))
        return CheckoutStarted(purchase_id=made.id, url=made.url)

    # --- the webhook ---------------------------------------------------------------------

    def handle_webhook(self, payload: bytes, signature: str | None) -> WebhookOutcome:
        """Verify a Stripe webhook and apply it once; a replayed event id changes nothing."""
        event = self.stripe.verify(payload, signature)
        event_id, kind = str(event.get("id", "")), str(event.get("type", ""))
        if not event_id:
            raise InvalidRequest("The event has no id.")
        obj: dict[str, Any] = event.get("data", {}).get("object", {}) or {}
        upgraded: tuple[str, Tier] | None = None
        with self.db.session() as session:
            # First statement a write: on SQLite it takes the write lock for the whole event.
            session.add(StripeEvent(id=event_id, type=kind[:100], received_at=self.clock()))
            try:
                session.flush()
            except IntegrityError:
                session.rollback()
                return WebhookOutcome(event_id, kind, duplicate=True, handled=False)
            if kind == COMPLETED_EVENT:
                upgraded = self._complete(session, obj)
            elif kind == REFUNDED_EVENT:
                self._reversed(session, obj, refunded=int(obj.get("amount_refunded") or 0))
            elif kind == DISPUTED_EVENT:
                self._reversed(session, obj, disputed=int(obj.get("amount") or 0))
        if upgraded is not None:
            # Its own transaction, after the tier is committed (idempotent if redone).
            self.retention.on_tier_change(*upgraded)
        return WebhookOutcome(event_id, kind, duplicate=False, handled=kind in HANDLED_EVENTS)

    def _complete(self, session: Session, checkout: dict[str, Any]) -> tuple[str, Tier] | None:
        """Credit a paid session once; returns the user and tier to apply retention to."""
        if checkout.get("payment_status") not in ("paid", "no_payment_required"):
            return None
        session_id = str(checkout.get("id", ""))
        payment_intent = str(checkout.get("payment_intent") or f"session:{session_id}")
        # Locks in the order every path takes them (payment, purchase, user), so a refund
        # settling at the same moment waits instead of deadlocking.
        _ensure_reversal(session, payment_intent, str(checkout.get("currency") or "usd")[:3])
        _lock_reversal(session, payment_intent)
        purchase = _locked_purchase(session, session_id) or self._from_metadata(
            session, session_id, checkout
        )
        if purchase is None:
            log.warning("checkout %s completed but no purchase names it", session_id)
            return None
        if purchase.status != OPEN:
            return None
        now = self.clock()
        paid = int(checkout.get("amount_total") or purchase.price_minor)
        purchase.status, purchase.payment_intent = PAID, payment_intent
        purchase.paid_minor, purchase.paid_at, purchase.updated_at = paid, now, now
        session.add(purchase)
        session.add(
            MoneyMovement(
                key=f"payment:{purchase.id}",
                kind="payment",
                payment_intent=payment_intent,
                user_id=purchase.user_id,
                amount_minor=paid,
                currency=purchase.currency,
                at=now,
            )
        )
        user = _lock_user(session, purchase.user_id)
        if purchase.credits:
            _move(
                session,
                user,
                PURCHASE,
                purchase.credits,
                f"purchase {purchase.pack_id}",
                f"{PURCHASE}:{purchase.id}",
            )
            owed = min(user.debt, user.balance)
            if owed:
                _move(
                    session,
                    user,
                    CLAWBACK,
                    -owed,
                    "debt paid back from a purchase",
                    f"debt:{purchase.id}",
                )
                user.debt -= owed
        if purchase.tier is not None:
            purchase.previous_tier = user.tier
            self._set_tier(session, user, Tier(purchase.tier))
        session.add(user)
        session.flush()
        self._apply_reversal(session, purchase)
        if purchase.tier is not None and not purchase.tier_revoked:
            return user.id, Tier(purchase.tier)
        return None

    def _opened(self, session_id: str, user_id: str, pack: Pack) -> Purchase:
        """The row of a Checkout Session for `pack`, open until its payment arrives."""
        now = self.clock()
        return Purchase(
            id=session_id,
            user_id=user_id,
            pack_id=pack.id,
            credits=pack.credits,
            price_minor=pack.price_minor,
            currency=pack.currency,
            tier=pack.tier.value if pack.tier else None,
            status=OPEN,
            created_at=now,
            updated_at=now,
        )

    def _from_metadata(
        self, session: Session, session_id: str, checkout: dict[str, Any]
    ) -> Purchase | None:
        """The purchase of a session paid before its row was written (checkout writes it
        after Stripe answers), rebuilt from the metadata the session carries."""
        metadata = checkout.get("metadata") or {}
        user_id, pack_id = metadata.get("user_id"), metadata.get("pack_id")
        if not session_id or not user_id or session.get(User, user_id) is None:
            return None
        pack = next((p for p in self.packs if p.id == pack_id), None)
        if pack is None:
            return None
        purchase = self._opened(session_id, user_id, pack)
        session.add(purchase)
        session.flush()
        return purchase

    def _reversed(
        self, session: Session, charge: dict[str, Any], *, refunded: int = 0, disputed: int = 0
    ) -> None:
        payment_intent = str(charge.get("payment_intent") or "")
        if not payment_intent:
            log.warning("a refund or dispute without a payment id: %s", charge.get("id"))
            return
        currency = str(charge.get("currency") or "usd")[:3]
        self._record_reversal(session, payment_intent, currency, refunded, disputed)

    def _record_reversal(
        self, session: Session, payment_intent: str, currency: str, refunded: int, disputed: int
    ) -> None:
        """Raise what was paid back on a payment (cumulative amounts: a repeat is a no-op),
        record the money that left, and take back what its purchase owes."""
        _ensure_reversal(session, payment_intent, currency)
        reversal = _lock_reversal(session, payment_intent)
        before = max(reversal.refunded_minor, reversal.disputed_minor)
        reversal.refunded_minor = max(reversal.refunded_minor, refunded)
        reversal.disputed_minor = max(reversal.disputed_minor, disputed)
        after = max(reversal.refunded_minor, reversal.disputed_minor)
        reversal.updated_at = self.clock()
        session.add(reversal)
        purchase = session.exec(
            select(Purchase).where(Purchase.payment_intent == payment_intent).with_for_update()
        ).one_or_none()
        if after > before:
            session.add(
                MoneyMovement(
                    key=f"reversal:{payment_intent}:{after}",
                    kind="dispute" if reversal.disputed_minor >= after else "refund",
                    payment_intent=payment_intent,
                    user_id=purchase.user_id if purchase else None,
                    amount_minor=-(after - before),
                    currency=currency,
                    at=self.clock(),
                )
            )
        session.flush()
        if purchase is not None:
            self._apply_reversal(session, purchase)

    def _apply_reversal(self, session: Session, purchase: Purchase) -> None:
        """Take back the credits (and the tier) a paid purchase owes for what was paid back."""
        if purchase.status == OPEN or purchase.payment_intent is None:
            return
        reversal = session.get(PaymentReversal, purchase.payment_intent)
        if reversal is None:
            return
        reversed_minor = min(
            max(reversal.refunded_minor, reversal.disputed_minor), purchase.paid_minor
        )
        if reversed_minor <= purchase.reversed_minor:
            return
        target = credits_to_take_back(purchase.credits, purchase.paid_minor, reversed_minor)
        user = _lock_user(session, purchase.user_id)
        owed = target - purchase.credits_taken_back
        if owed > 0:
            taken = min(owed, user.balance)
            if taken:
                _move(
                    session,
                    user,
                    CLAWBACK,
                    -taken,
                    f"purchase {purchase.pack_id} paid back",
                    f"{CLAWBACK}:{purchase.id}:{target}",
                )
            user.debt += owed - taken
            purchase.credits_taken_back = target
        if (
            purchase.tier is not None
            and not purchase.tier_revoked
            and tier_revoked(purchase.paid_minor, reversed_minor)
        ):
            purchase.tier_revoked = True
            if user.tier == purchase.tier:
                self._set_tier(session, user, Tier(purchase.previous_tier or Tier.FREE.value))
        purchase.reversed_minor = reversed_minor
        if reversed_minor >= purchase.paid_minor:
            disputed = reversal.disputed_minor >= reversal.refunded_minor
            purchase.status = DISPUTED if disputed else REFUNDED
        purchase.updated_at = self.clock()
        session.add(user)
        session.add(purchase)
        session.flush()

    @staticmethod
    def _set_tier(session: Session, user: User, tier: Tier) -> None:
        if user.tier != tier.value:
            session.add(TierChange(user_id=user.id, from_tier=user.tier, to_tier=tier.value))
            user.tier = tier.value

    # --- operators -----------------------------------------------------------------------

    def refund(self, purchase_id: str) -> Receipt:
        """Refund what is left of a purchase through Stripe and take its credits back now
        (Stripe's charge.refunded webhook then finds it done)."""
        with self.db.session() as session:
            purchase = session.get(Purchase, purchase_id)
            if purchase is None:
                raise NotFound("No such purchase.")
            if purchase.status == OPEN or purchase.payment_intent is None:
                raise Conflict("This purchase was never paid; there is nothing to refund.")
            reversal = session.get(PaymentReversal, purchase.payment_intent)
            refunded = reversal.refunded_minor if reversal else 0
            left = purchase.paid_minor - max(refunded, purchase.reversed_minor)
            payment_intent, currency = purchase.payment_intent, purchase.currency
        if left <= 0:
            raise Conflict("This purchase was already paid back in full.")
        made = self.stripe.refund(payment_intent, left)
        with self.db.session() as session:
            self._record_reversal(session, payment_intent, currency, refunded + made.amount, 0)
        return self.receipt(purchase_id)

    # --- receipts ------------------------------------------------------------------------

    def receipt(self, purchase_id: str) -> Receipt:
        with self.db.session() as session:
            purchase = session.get(Purchase, purchase_id)
            if purchase is None:
                raise NotFound("No such purchase.")
            return _receipt(purchase)

    def receipts(
        self, user_id: str | None = None, *, limit: int = 100, after: Cursor | None = None
    ) -> Page[Receipt]:
        """Purchases newest first (paid, refunded or still open), one user's or everyone's, a
        page at a time from `after`."""
        statement = select(Purchase)
        if user_id is not None:
            statement = statement.where(Purchase.user_id == user_id)
        order = SortKey(id=col(Purchase.id), at=col(Purchase.created_at))
        with self.db.session() as session:
            rows = [_receipt(p) for p in session.exec(keyset(statement, order, after, limit))]
        return page_of(rows, limit, lambda r: Cursor(r.id, r.created_at))

    def received(self, start: datetime, end: datetime) -> list[MoneyMovement]:
        """Money movements in [start, end): payments positive, refunds and disputes negative."""
        statement = (
            select(MoneyMovement)
            .where(col(MoneyMovement.at) >= start, col(MoneyMovement.at) < end)
            .order_by(col(MoneyMovement.at))
        )
        with self.db.session() as session:
            return list(session.exec(statement))


def _receipt(purchase: Purchase) -> Receipt:
    return Receipt(
        id=purchase.id,
        user_id=purchase.user_id,
        pack_id=purchase.pack_id,
        credits=purchase.credits,
        price_minor=purchase.price_minor,
        currency=purchase.currency,
        tier=purchase.tier,
        status=purchase.status,
        paid_minor=purchase.paid_minor,
        reversed_minor=purchase.reversed_minor,
        credits_taken_back=purchase.credits_taken_back,
        created_at=as_utc(purchase.created_at),
        paid_at=as_utc(purchase.paid_at) if purchase.paid_at else None,
    )


def _locked_purchase(session: Session, purchase_id: str) -> Purchase | None:
    locked = select(Purchase).where(Purchase.id == purchase_id).with_for_update()
    return session.exec(locked.execution_options(populate_existing=True)).one_or_none()


def _lock_user(session: Session, user_id: str) -> User:
    locked = select(User).where(User.id == user_id).with_for_update()
    user = session.exec(locked.execution_options(populate_existing=True)).one_or_none()
    if user is None:
        raise NotFound("No such user.")
    return user


def _ensure_reversal(session: Session, payment_intent: str, currency: str) -> None:
    """The payment's reversal row, made if missing without failing a concurrent maker: both
    the completion and a refund lock it, so they apply one after the other."""
    values = {
        "payment_intent": payment_intent,
        "currency": currency,
        "refunded_minor": 0,
        "disputed_minor": 0,
        "updated_at": utcnow(),
    }
    table = PaymentReversal.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(table).values(**values).on_conflict_do_nothing())


def _lock_reversal(session: Session, payment_intent: str) -> PaymentReversal:
    return session.exec(
        select(PaymentReversal)
        .where(PaymentReversal.payment_intent == payment_intent)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _move(session: Session, user: User, kind: str, amount: int, reason: str, key: str) -> None:
    """One ledger row and the balance change it records, on the locked user."""
    session.add(
        CreditEntry(
            user_id=user.id, kind=kind, amount=amount, reason=reason[:200], idempotency_key=key
        )
    )
    user.balance += amount
    session.add(user)
    session.flush()
