"""CreditManager: the only code that moves credits. Every move is one ledger row.

Invariants, guarded by the database: a balance never goes below zero (CHECK plus a
conditional UPDATE), a job is reserved and refunded at most once (unique (job_id, kind)),
a grant happens once per idempotency key, and a balance always equals its ledger sum.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from heirloom.db.engine import Database
from heirloom.db.models import (
    CreditEntry,
    Job,
    ModelAttempt,
    User,
    WithdrawnSubmission,
    as_utc,
    utcnow,
)
from heirloom.domain.errors import (
    IdempotencyKeyReused,
    InsufficientCredits,
    InvalidRequest,
    JobAlreadyFinished,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)
from heirloom.domain.jobs import (
    MODEL_PROGRESS_SPAN,
    JobStatus,
    Operation,
    Stage,
    operations_label,
    parse_operations,
)
from heirloom.domain.pricing import JobQuote, Prices, day_start, job_cost, quote_job
from heirloom.domain.tiers import Tier, TierRules
from heirloom.services.events import event_log as events
from heirloom.services.privacy.erasure import ROLE_ERASED

RESERVE = "reserve"
REFUND = "refund"
GRANT = "grant"
CLAWBACK = "clawback"
PURCHASE = "purchase"

log = logging.getLogger(__name__)

_CLOSED = "This account is closed; nothing was charged."

_WITHDRAWN = "The API gave up on this submission and answered 503; it is never charged."
# The worker's log line when a late reservation meets a withdrawn submission.
WITHDRAWN_LOG_LINE = "reservation refused: the API withdrew this submission (answered 503)"

# Refunded jobs give their daily slot back: only these count towards a daily limit.
_COUNTED_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.COMPLETED)


@dataclass(frozen=True)
class NewJob:
    """What a reservation needs to know to charge for a job and create its row."""

    job_id: str
    user_id: str
    operations: str
    tier: Tier
    original_key: str
    idempotency_key: str | None = None
    request_hash: str | None = None
    retry_of: str | None = None
    callback_url: str | None = None
    gpu_priority: int = 3
    submission_id: str | None = None
    # Model runs with different seeds to pick the result from (domain/pricing.py job_cost).
    candidates: int = 1
    # The upload's header metadata and size, on the row from the start (none: written later).
    photo_metadata: dict[str, Any] | None = None
    original_bytes: int = 0


@dataclass(frozen=True)
class Reservation:
    """A successful charge: the cost and the balance after it."""

    job_id: str
    cost: int
    balance: int


@dataclass(frozen=True)
class Refund:
    """The outcome of a refund request; `amount` is 0 when nothing was (or is) owed."""

    job_id: str
    amount: int
    already_refunded: bool


@dataclass(frozen=True)
class LedgerLine:
    """A ledger row as users see it."""

    id: int
    kind: str
    amount: int
    reason: str
    job_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class LedgerMismatch:
    """A user whose balance differs from their ledger sum (should never exist)."""

    user_id: str
    balance: int
    ledger_sum: int


def jobs_today_count(
    user_id: str | sa.BindParameter[str], since: datetime | sa.BindParameter[datetime]
) -> SelectOfScalar[int]:
    """The count of the user's jobs against the daily limit made since `since` (the last
    UTC midnight; a parameter in statements built once)."""
    return select(func.count()).where(
        col(Job.user_id) == user_id,
        col(Job.created_at) >= since,
        sa.or_(
            col(Job.status).in_([s.value for s in _COUNTED_STATUSES]),
            # A job cancelled once its model was submitted used GPU time: it keeps its
            # slot, so submit-and-cancel cannot burn GPU time for free.
            sa.and_(
                col(Job.status) == JobStatus.CANCELLED.value,
                col(Job.runpod_job_id).is_not(None),
            ),
        ),
    )


def active_jobs_count(user_id: str | sa.BindParameter[str]) -> SelectOfScalar[int]:
    """The count of the user's jobs queued or running now (the tier's in-progress cap)."""
    return select(func.count()).where(
        col(Job.user_id) == user_id,
        col(Job.status).in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
    )


class CreditManager:
    """Reserve, refund and grant credits over the append-only ledger."""

    def __init__(
        self,
        db: Database,
        *,
        prices: Prices,
        tier_rules: dict[Tier, TierRules],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.prices = prices
        self.tier_rules = tier_rules
        # What "today" is for the daily limit; injectable so the rule can be checked at any hour.
        self.clock = clock

    # --- queries ---------------------------------------------------------------------

    def balance(self, user_id: str) -> int:
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound("No such user.")
            return user.balance

    def jobs_today(self, session: Session, user_id: str, now: datetime) -> int:
        """Jobs counted against the daily limit since the last UTC midnight."""
        return int(session.exec(jobs_today_count(user_id, day_start(now))).one())

    def active_jobs(self, session: Session, user_id: str) -> int:
        """Jobs queued or running now, counted against the tier's in-progress cap."""
        return int(session.exec(active_jobs_count(user_id)).one())

    def quote(
        self, user_id: str, operations: str, *, now: datetime | None = None, candidates: int = 1
    ) -> JobQuote:
        """What a job would cost the user now, or its refusal: the reservation's rule (the API
        checks a submission with Admission, which applies it in one read)."""
        now = now or self.clock()
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound("No such user.")
            return self._quote(
                session,
                user_id,
                Tier(user.tier),
                parse_operations(operations),
                balance=user.balance,
                now=now,
                debt=user.debt,
                candidates=candidates,
            )

    def history(
        self, user_id: str, *, limit: int = 50, before_id: int | None = None
    ) -> list[LedgerLine]:
        """Newest first; page with `before_id` = the last id of the previous page."""
        statement = select(CreditEntry).where(CreditEntry.user_id == user_id)
        if before_id is not None:
            statement = statement.where(col(CreditEntry.id) < before_id)
        statement = statement.order_by(col(CreditEntry.id).desc()).limit(limit)
        with self.db.session() as session:
            return [_line(entry) for entry in session.exec(statement)]

    def check_consistency(self, user_ids: Sequence[str] | None = None) -> list[LedgerMismatch]:
        """Every user whose balance is not the sum of their ledger; empty when all is well."""
        sums = (
            select(CreditEntry.user_id, func.coalesce(func.sum(CreditEntry.amount), 0).label("s"))
            .group_by(col(CreditEntry.user_id))
            .subquery()
        )
        statement = select(User.id, User.balance, func.coalesce(sums.c.s, 0)).outerjoin(
            sums, sums.c.user_id == User.id
        )
        if user_ids is not None:
            statement = statement.where(col(User.id).in_(list(user_ids)))
        with self.db.session() as session:
            return [
                LedgerMismatch(user_id=uid, balance=balance, ledger_sum=int(total))
                for uid, balance, total in session.exec(statement)
                if balance != int(total)
            ]

    # --- moves -----------------------------------------------------------------------

    def reserve(self, job: NewJob, *, now: datetime | None = None) -> Reservation:
        """Charge for a job and create its row, atomically; a repeat returns the first charge.

        Raises InsufficientCredits, DailyLimitReached or IdempotencyKeyReused, with nothing
        written; a submission the API withdrew (it answered 503) is refused with
        ServiceUnavailable, never charged.

        Two statements on PostgreSQL: the charge, then the ledger row, the job row (its
        job.queued event with it) and the reads the rules need. On SQLite, which has no
        INSERT inside a statement, those reads ride on the charge and each row is its own
        INSERT.
        """
        now = now or self.clock()
        operations = parse_operations(job.operations)
        cost = job_cost(self.prices.cost(operations), job.candidates, self.tier_rules[job.tier])
        postgres = self.db.engine.dialect.name == "postgresql"
        reads = self._reads_under_lock(job, now)
        with self.db.session() as session:
            # The charge is one conditional statement: it cannot overdraw, and it locks the
            # user row (SQLite: the database) so this user's reservations run one at a time.
            # What must be read under that lock (a withdrawal, the job counts) is read after
            # it: on SQLite by this statement, which holds the database's write lock before
            # it reads; on PostgreSQL by the next, as this one's snapshot predates the lock.
            charged = session.execute(
                sa.update(User)
                .where(
                    col(User.id) == job.user_id,
                    col(User.balance) >= cost,
                    col(User.debt) == 0,
                )
                .values(balance=User.balance - cost)
                .returning(col(User.balance), col(User.role), *([] if postgres else reads))
                .execution_options(synchronize_session=False)
            ).one_or_none()
            if charged is None or charged.role == ROLE_ERASED:
                return self._not_charged(session, job, operations, now, closed=charged is not None)
            balance = int(charged.balance)
            entry = CreditEntry(
                user_id=job.user_id,
                job_id=job.job_id,
                kind=RESERVE,
                amount=-cost,
                reason=f"job {job.job_id}: {operations_label(operations)}",
                idempotency_key=f"{RESERVE}:{job.job_id}",
                created_at=now,
            )
            row = Job(
                id=job.job_id,
                user_id=job.user_id,
                operations=operations_label(operations),
                tier=job.tier.value,
                status=JobStatus.QUEUED.value,
                stage=Stage.QUEUED.value,
                cost=cost,
                original_key=job.original_key,
                idempotency_key=job.idempotency_key,
                request_hash=job.request_hash,
                retry_of=job.retry_of,
                callback_url=job.callback_url,
                gpu_priority=job.gpu_priority,
                candidates=job.candidates,
                photo_metadata=job.photo_metadata,
                stored_bytes=job.original_bytes,
                created_at=now,
                updated_at=now,
                # Its insert appends the job.queued event (Job.last_event).
                last_event=events.QUEUED,
            )
            if postgres:
                return self._record_in_one_statement(
                    session, job, operations, entry, row, reads, balance, now
                )
            self._refuse_withdrawn(session, job, withdrawn=bool(charged._mapping.get("withdrawn")))
            try:
                # Unique (job_id, kind): a retried reservation stops here and gets the
                # first charge back; the rollback undoes this attempt's.
                session.add(entry)
                session.flush()
            except IntegrityError:
                session.rollback()
                return self._existing_reservation(session, job.job_id)
            # The same rule as the API's pre-check, now decided under the lock.
            self._quote_reserved(job, operations, balance + cost, now, charged)
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                if job.idempotency_key is None:
                    raise
                # Unique (user, idempotency key): another body under this key was charged
                # first. Leaving the block rolls this charge back.
                raise IdempotencyKeyReused() from None
            return Reservation(job_id=job.job_id, cost=cost, balance=balance)

    def _record_in_one_statement(
        self,
        session: Session,
        job: NewJob,
        operations: tuple[Operation, ...],
        entry: CreditEntry,
        row: Job,
        reads: list[sa.ColumnElement[Any]],
        balance: int,
        now: datetime,
    ) -> Reservation:
        """PostgreSQL: the ledger row, then the job row if the ledger row is new, and the
        reads, in one statement after the charge; then the same decisions in the same order
        as SQLite's statements make them, any refusal rolling everything back."""
        ledger = (
            pg_insert(CreditEntry)
            .values(_column_values(entry))
            .on_conflict_do_nothing(constraint="uq_credit_ledger_job_kind")
            .returning(col(CreditEntry.id))
            .cte("ledger")
        )
        values = _column_values(row)
        jobs = sa.inspect(Job).local_table.c
        created = (
            pg_insert(Job)
            .from_select(
                list(values),
                sa.select(*(sa.literal(v, jobs[k].type) for k, v in values.items())).select_from(
                    ledger
                ),
            )
            .on_conflict_do_nothing()
            .returning(col(Job.id))
            .cte("created")
        )
        try:
            outcome = session.execute(
                sa.select(
                    sa.select(ledger.c.id).scalar_subquery().label("ledger_id"),
                    sa.select(created.c.id).scalar_subquery().label("job_id"),
                    *reads,
                )
            ).one()
        except IntegrityError:
            session.rollback()
            return self._existing_reservation(session, job.job_id)
        self._refuse_withdrawn(session, job, withdrawn=bool(outcome._mapping.get("withdrawn")))
        if outcome.ledger_id is None:
            # Unique (job_id, kind): a retried reservation gets the first charge back.
            session.rollback()
            return self._existing_reservation(session, job.job_id)
        cost = -entry.amount
        self._quote_reserved(job, operations, balance + cost, now, outcome)
        if outcome.job_id is None:
            if job.idempotency_key is None:
                raise RuntimeError(f"job {job.job_id} exists without its reservation")
            # Unique (user, idempotency key): another body under this key was charged first.
            raise IdempotencyKeyReused()
        return Reservation(job_id=job.job_id, cost=cost, balance=balance)

    def _reads_under_lock(self, job: NewJob, now: datetime) -> list[sa.ColumnElement[Any]]:
        """What a reservation reads under the user's lock, as labelled scalar subqueries: a
        withdrawal of its submission, and the job counts its tier's caps need."""
        reads: list[sa.ColumnElement[Any]] = []
        if job.submission_id is not None:
            withdrawn = sa.select(sa.literal(1)).where(
                col(WithdrawnSubmission.submission_id) == job.submission_id
            )
            reads.append(sa.exists(withdrawn).label("withdrawn"))
        rules = self.tier_rules[job.tier]
        if rules.daily_job_limit is not None:
            today = jobs_today_count(job.user_id, day_start(now)).scalar_subquery()
            reads.append(today.label("jobs_today"))
        if rules.max_active_jobs is not None:
            reads.append(active_jobs_count(job.user_id).scalar_subquery().label("active_jobs"))
        return reads

    def _refuse_withdrawn(self, session: Session, job: NewJob, *, withdrawn: bool) -> None:
        """A withdrawal committed before the charge (read under its lock): refuse, undoing it.

        Read under the lock `withdraw` takes too: a withdrawal either committed before (seen
        here) or waits for this charge and then finds it.
        """
        if withdrawn:
            session.rollback()
            log.warning("job %s: %s", job.job_id, WITHDRAWN_LOG_LINE)
            raise ServiceUnavailable(_WITHDRAWN, retryable=False)

    def _quote_reserved(
        self,
        job: NewJob,
        operations: tuple[Operation, ...],
        balance: int,
        now: datetime,
        reads: sa.Row[Any],
    ) -> None:
        """The same rule as the API's pre-check, decided under the lock on the counts read
        there; a refusal raises, and leaving the session's block rolls the charge back."""
        fields = reads._mapping
        quote_job(
            operations=operations,
            tier=job.tier,
            balance=balance,
            jobs_today=int(fields.get("jobs_today") or 0),
            prices=self.prices,
            tier_rules=self.tier_rules,
            now=now,
            active_jobs=int(fields.get("active_jobs") or 0),
            candidates=job.candidates,
        )

    def _not_charged(
        self,
        session: Session,
        job: NewJob,
        operations: tuple[Operation, ...],
        now: datetime,
        *,
        closed: bool,
    ) -> Reservation:
        """The charge did not apply, or applied to a closed account: refuse in the order the
        charged path would (a withdrawal first), or return a retry's first charge."""
        self._refuse_withdrawn(session, job, withdrawn=self._withdrawn(session, job.submission_id))
        session.rollback()
        # An erasure closes the account under the same row lock: an upload that lands
        # after it began is never charged nor run (the API then deletes its original).
        if closed:
            raise Unauthorized(_CLOSED)
        return self._refused_or_existing(session, job, operations, now)

    def withdraw(self, submission_id: str, job_id: str, user_id: str) -> bool:
        """Record that the API gave up on a submission, before it answers 503; True if a
        charge for the job landed first (the caller settles it before answering).

        The first statement takes the user's row lock (SQLite: the write lock) that every
        reservation takes first, so the reservation's check and this record never interleave.
        """
        with self.db.session() as session:
            _update(
                session,
                sa.update(User).where(col(User.id) == user_id).values(balance=User.balance),
            )
            if session.get(WithdrawnSubmission, submission_id) is None:
                session.add(
                    WithdrawnSubmission(submission_id=submission_id, job_id=job_id, user_id=user_id)
                )
                session.flush()
            return self._has_reservation(session, job_id)

    @staticmethod
    def _withdrawn(session: Session, submission_id: str | None) -> bool:
        if submission_id is None:
            return False
        return session.get(WithdrawnSubmission, submission_id) is not None

    def _quote(
        self,
        session: Session,
        user_id: str,
        tier: Tier,
        operations: tuple[Operation, ...],
        *,
        balance: int,
        now: datetime,
        debt: int = 0,
        candidates: int = 1,
    ) -> JobQuote:
        """quote_job with today's and in-progress job counts, each read only when capped."""
        rules = self.tier_rules[tier]
        limited = rules.daily_job_limit is not None
        return quote_job(
            operations=operations,
            tier=tier,
            balance=balance,
            jobs_today=self.jobs_today(session, user_id, now) if limited else 0,
            prices=self.prices,
            tier_rules=self.tier_rules,
            now=now,
            active_jobs=(
                self.active_jobs(session, user_id) if rules.max_active_jobs is not None else 0
            ),
            debt=debt,
            candidates=candidates,
        )

    def _refused_or_existing(
        self, session: Session, job: NewJob, operations: tuple[Operation, ...], now: datetime
    ) -> Reservation:
        """Why a charge did not apply: already made (a retry), an unknown user, or a refusal."""
        if self._has_reservation(session, job.job_id):
            return self._existing_reservation(session, job.job_id)
        user = session.get(User, job.user_id)
        if user is None:
            raise NotFound("No such user.")
        if user.role == ROLE_ERASED:
            raise Unauthorized(_CLOSED)
        self._quote(
            session,
            job.user_id,
            job.tier,
            operations,
            balance=user.balance,
            now=now,
            debt=user.debt,
            candidates=job.candidates,
        )
        # The rule passed on a fresher read: the balance moved; refuse with what it is now.
        cost = job_cost(self.prices.cost(operations), job.candidates, self.tier_rules[job.tier])
        raise InsufficientCredits(cost=cost, balance=user.balance)

    def _has_reservation(self, session: Session, job_id: str) -> bool:
        statement = select(CreditEntry.id).where(
            CreditEntry.job_id == job_id, CreditEntry.kind == RESERVE
        )
        return session.exec(statement).first() is not None

    def refund(self, job_id: str, reason: str, *, owner_cancelled: bool = False) -> Refund:
        """Give back what a job was charged, once, unless the job completed.

        A job its owner cancelled after the model started on the GPU gets the price less the
        kept part back (`Prices.cancel_refund`); every other ending refunds in full.
        """
        with self.db.session() as session:
            job = session.get(Job, job_id)
            reserved = session.exec(
                select(CreditEntry).where(CreditEntry.job_id == job_id, CreditEntry.kind == RESERVE)
            ).one_or_none()
            if reserved is None or job is None or job.status == JobStatus.COMPLETED:
                return Refund(job_id=job_id, amount=0, already_refunded=False)
            amount = -reserved.amount
            if owner_cancelled:
                started = model_started(session, job)
                amount = self.prices.cancel_refund(amount, model_started=started)
                if started:
                    reason = f"{reason} after the model started: {-reserved.amount - amount} kept"
            _lock_user(session, reserved.user_id)
            try:
                session.add(
                    CreditEntry(
                        user_id=reserved.user_id,
                        job_id=job_id,
                        kind=REFUND,
                        amount=amount,
                        reason=reason[:200],
                        idempotency_key=f"{REFUND}:{job_id}",
                    )
                )
                session.flush()
            except IntegrityError:
                session.rollback()
                return Refund(job_id=job_id, amount=0, already_refunded=True)
            _update(
                session,
                sa.update(User)
                .where(col(User.id) == reserved.user_id)
                .values(balance=User.balance + amount),
            )
            # The job.refunded event comes with this write (Job.last_event).
            _update(
                session,
                sa.update(Job)
                .where(col(Job.id) == job_id)
                .values(refunded=amount, updated_at=utcnow(), last_event=events.REFUNDED),
            )
            return Refund(job_id=job_id, amount=amount, already_refunded=False)

    def grant(
        self,
        user_id: str,
        amount: int,
        reason: str,
        idempotency_key: str,
        *,
        by_user_id: str | None = None,
        by_key_id: str | None = None,
    ) -> LedgerLine:
        """Add credits once per idempotency key; the same key with another amount is refused.
        `by_user_id` and `by_key_id`: the admin who granted them and the key they used."""
        if amount <= 0:
            raise InvalidRequest("A grant must be a positive number of credits.")
        if not idempotency_key:
            raise InvalidRequest("A grant needs an idempotency key.")
        key = f"{GRANT}:{user_id}:{idempotency_key}"
        with self.db.session() as session:
            if _lock_user(session, user_id) is None:
                raise NotFound("No such user.")
            try:
                entry = CreditEntry(
                    user_id=user_id,
                    kind=GRANT,
                    amount=amount,
                    reason=reason[:200],
                    idempotency_key=key,
                    granted_by_user_id=by_user_id,
                    granted_by_key_id=by_key_id,
                )
                session.add(entry)
                session.flush()
            except IntegrityError:
                session.rollback()
                existing = session.exec(
                    select(CreditEntry).where(CreditEntry.idempotency_key == key)
                ).one_or_none()
                if existing is None:
                    raise NotFound("No such user.") from None
                if existing.amount != amount:
                    raise IdempotencyKeyReused() from None
                return _line(existing)
            updated = _update(
                session,
                sa.update(User)
                .where(col(User.id) == user_id)
                .values(balance=User.balance + amount),
            )
            if updated != 1:
                raise NotFound("No such user.")
            _repay_debt(session, user_id, f"debt:{key}")
            return _line(entry)

    def _existing_reservation(self, session: Session, job_id: str) -> Reservation:
        """A repeat of this run's reservation; a job that already ended is never run again."""
        entry = session.exec(
            select(CreditEntry).where(CreditEntry.job_id == job_id, CreditEntry.kind == RESERVE)
        ).one_or_none()
        if entry is None:  # the insert failed on the user foreign key, not on a repeat
            raise NotFound("No such user.")
        job = session.get(Job, job_id)
        if job is not None and JobStatus(job.status).is_final:
            # A second run under a used id must not re-run the model, re-charge, or touch
            # the first run's results.
            raise JobAlreadyFinished(f"The job is already {job.status}.")
        balance = session.exec(select(User.balance).where(User.id == entry.user_id)).one()
        return Reservation(job_id=job_id, cost=-entry.amount, balance=balance)


def _column_values(row: SQLModel) -> dict[str, Any]:
    """A new row's column values for a Core INSERT; those it leaves unset (None) the
    database fills, as the ORM's INSERT would."""
    table: sa.Table = row.__table__  # type: ignore[attr-defined]
    return {c.name: value for c in table.columns if (value := getattr(row, c.name)) is not None}


def model_started(session: Session, job: Job) -> bool:
    """Whether the job's model ran on a GPU: the handler reported progress, or a RunPod job of
    it recorded execution time (its model-attempt records)."""
    if job.progress > MODEL_PROGRESS_SPAN[0]:
        return True
    executed = select(ModelAttempt.id).where(
        ModelAttempt.job_id == job.id, col(ModelAttempt.execution_ms) > 0
    )
    return session.exec(executed).first() is not None


def _repay_debt(session: Session, user_id: str, key: str) -> None:
    """Credits just added pay back a debt first (a clawback row), as far as they reach."""
    balance, debt = session.execute(
        sa.select(col(User.balance), col(User.debt)).where(col(User.id) == user_id)
    ).one()
    owed = min(int(balance), int(debt))
    if owed <= 0:
        return
    session.add(
        CreditEntry(
            user_id=user_id,
            kind=CLAWBACK,
            amount=-owed,
            reason="debt paid back from a grant",
            idempotency_key=key[:200],
        )
    )
    _update(
        session,
        sa.update(User)
        .where(col(User.id) == user_id)
        .values(balance=User.balance - owed, debt=User.debt - owed),
    )


def _lock_user(session: Session, user_id: str) -> User | None:
    """SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises writers by itself."""
    return session.exec(select(User).where(User.id == user_id).with_for_update()).one_or_none()


def _update(session: Session, statement: sa.Update) -> int:
    """Run an UPDATE and return how many rows it changed."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    return cast(sa.CursorResult[Any], result).rowcount


def _line(entry: CreditEntry) -> LedgerLine:
    assert entry.id is not None
    return LedgerLine(
        id=entry.id,
        kind=entry.kind,
        amount=entry.amount,
        reason=entry.reason,
        job_id=entry.job_id,
        created_at=as_utc(entry.created_at),
    )
