"""SQLModel tables. Constraints live here so the database, not the code, keeps the invariants."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Timezone-aware now in UTC; every stored timestamp is UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were written as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ts(*, nullable: bool = False, index: bool = False) -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index)


class User(SQLModel, table=True):
    """A customer (or an admin) with a tier and a credit balance; API keys are in api_keys."""

    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("balance >= 0", name="ck_users_balance_non_negative"),
        sa.CheckConstraint("debt >= 0", name="ck_users_debt_non_negative"),
    )

    id: str = Field(primary_key=True, max_length=32)
    email: str = Field(max_length=320, unique=True)
    tier: str = Field(max_length=16)
    role: str = Field(default="user", max_length=16)
    balance: int = Field(default=0)
    # Credits a refund or dispute took back beyond the balance; while above 0 no job starts.
    debt: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class CreditEntry(SQLModel, table=True):
    """One append-only ledger row: a reserve (negative), a refund or a grant (positive), a
    purchase (positive) or a clawback (negative: credits a refunded purchase took back, or a
    debt a purchase paid back).

    (job_id, kind) is unique, so a job is charged and refunded at most once whatever retries
    happen; idempotency_key is unique across the ledger for grants.
    """

    __tablename__ = "credit_ledger"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "kind", name="uq_credit_ledger_job_kind"),
        sa.CheckConstraint(
            "kind IN ('reserve', 'refund', 'grant', 'purchase', 'clawback')",
            name="ck_credit_ledger_kind",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    job_id: str | None = Field(default=None, max_length=32)
    kind: str = Field(max_length=16)
    amount: int
    reason: str = Field(max_length=200)
    idempotency_key: str = Field(max_length=200, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    # A grant by an admin through the API: the admin and the key they used (None otherwise).
    granted_by_user_id: str | None = Field(default=None, max_length=32)
    granted_by_key_id: str | None = Field(default=None, max_length=32)


class TierChange(SQLModel, table=True):
    """One change of a user's tier: from what, to what, when, and the admin (and key) who made
    it (None: the operator's CLI)."""

    __tablename__ = "tier_changes"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    from_tier: str = Field(max_length=16)
    to_tier: str = Field(max_length=16)
    changed_by_user_id: str | None = Field(default=None, max_length=32)
    changed_by_key_id: str | None = Field(default=None, max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Job(SQLModel, table=True):
    """A processing job: what was asked, where it is, what it cost and where its files are."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "idempotency_key", name="uq_jobs_user_idempotency_key"),
        sa.Index("ix_jobs_user_created", "user_id", "created_at"),
        # Each reservation's count of the user's jobs in progress (the tier's cap).
        sa.Index("ix_jobs_user_status", "user_id", "status"),
        # The reconciler's query: unfinished jobs, oldest change first.
        sa.Index("ix_jobs_status_updated", "status", "updated_at"),
        # Queue positions: jobs waiting for a GPU, by priority, then by when they started to wait.
        sa.Index("ix_jobs_stage_priority", "stage", "gpu_priority", "updated_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    operations: str = Field(max_length=32)
    tier: str = Field(max_length=16)
    status: str = Field(max_length=16, index=True)
    stage: str = Field(max_length=16)
    progress: int = Field(default=0)
    cost: int
    refunded: int = Field(default=0)
    runpod_job_id: str | None = Field(default=None, max_length=100)
    # The GPU pool's endpoint of its RunPod job (None: the single endpoint of older rows). Set
    # with the RunPod job, or before a /run whose answer was lost: a retry stays on it.
    runpod_endpoint: str | None = Field(default=None, max_length=100)
    # What made the result, as the handler names it (model id, LoRA, revisions, steps).
    model: str | None = Field(default=None, max_length=300)
    # The same as fields, with the seed and handler version (domain/provenance.py).
    provenance: dict[str, Any] | None = Field(
        default=None, sa_column=sa.Column(sa.JSON, nullable=True)
    )
    # Model runs with different seeds the owner picks the result from (1: no choice).
    candidates: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    # Each kept candidate's files, seed and provenance (services/jobs/candidates.py); the
    # result's keys are the chosen one's.
    candidate_results: list[dict[str, Any]] | None = Field(
        default=None, sa_column=sa.Column(sa.JSON, nullable=True)
    )
    chosen_candidate: int | None = None
    # The album the photo came in with (albums.id); None for a job submitted on its own.
    album_id: str | None = Field(default=None, max_length=32, index=True)
    # Which model-run claim the job's next RunPod job takes; raised only after the previous
    # RunPod job was seen dead, so a retry that lost its RunPod id keeps it (and is a duplicate).
    model_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    original_key: str = Field(max_length=300)
    input_key: str | None = Field(default=None, max_length=300)
    result_key: str | None = Field(default=None, max_length=300)
    thumbnail_key: str | None = Field(default=None, max_length=300)
    comparison_key: str | None = Field(default=None, max_length=300)
    width: int | None = None
    height: int | None = None
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = Field(default=None, max_length=500)
    # For operators only: provider wording, HTTP statuses, exception text. Never shown to users.
    error_detail: str | None = Field(default=None, max_length=1000)
    # Who ended a job that did not complete: user, operator or system.
    ended_by: str | None = Field(default=None, max_length=16)
    # The model step's Temporal task priority in the GPU queue (domain/gpu_queue.py).
    gpu_priority: int = Field(default=3, sa_column_kwargs={"server_default": "3"})
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_hash: str | None = Field(default=None, max_length=64)
    retry_of: str | None = Field(default=None, max_length=32)
    # The job's own webhook target (POST /v1/jobs callback_url), signed with the user's secret.
    callback_url: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    started_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    # Retention: when the job's files go (None keeps them); the cleanup schedule deletes them.
    expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True, index=True))
    # What the upload's header and EXIF say (format, size, mode, capture date, camera); no GPS.
    photo_metadata: dict[str, Any] | None = Field(
        default=None, sa_column=sa.Column(sa.JSON, nullable=True)
    )
    # Bytes of the job's kept files (original and deliverables), counted against the quota.
    stored_bytes: int = Field(default=0)
    # What the quality gate found in the kept output (domain/quality.py quality_record).
    quality: dict[str, Any] | None = Field(
        default=None, sa_column=sa.Column(sa.JSON, nullable=True)
    )
    # The kind of the job's latest change-feed event (job.queued, job.started, ...): a write
    # that sets it appends that event with the job's state, in the same statement (the
    # triggers of migration 0019); a write that leaves it out appends none.
    last_event: str | None = Field(default=None, max_length=32)


class Share(SQLModel, table=True):
    """A public link to one job's result; only the SHA-256 of its token is stored."""

    __tablename__ = "shares"

    id: str = Field(primary_key=True, max_length=32)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    token_hash: str = Field(max_length=64, unique=True)
    allow_download: bool = Field(default=False)
    views: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # The API key that created the link (None: before provenance was recorded).
    created_by_key_id: str | None = Field(default=None, max_length=32, index=True)


class AuditEntry(SQLModel, table=True):
    """One access to a user's photos: whose, by whom, what, when, from where and how."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_owner_at", "owner_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    owner_id: str = Field(max_length=32)
    # The caller's user id, "public" for a share link, "system" for scheduled work.
    actor: str = Field(max_length=32)
    action: str = Field(max_length=32)
    job_id: str | None = Field(default=None, max_length=32)
    share_id: str | None = Field(default=None, max_length=32)
    # api, share, admin or system
    via: str = Field(max_length=16)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class JobEvent(SQLModel, table=True):
    """One change of a job, appended in the transaction that made it: the change feed.

    The id is monotonic and is the event id streams send; `state` is the job as its owner saw
    it right after the change, so a resumed stream replays exactly what it missed.
    """

    __tablename__ = "job_events"
    __table_args__ = (sa.Index("ix_job_events_job_id", "job_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32, index=True)
    type: str = Field(max_length=32)
    state: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class StreamToken(SQLModel, table=True):
    """A short-lived token a browser puts in a WebSocket URL instead of its API key.

    Only its SHA-256 is stored; it names its user, the key that made it and the one stream it
    opens (a job's, or `/v1/events` when `job_id` is None), and expires within minutes.
    """

    __tablename__ = "stream_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    key_id: str = Field(max_length=32)
    job_id: str | None = Field(default=None, max_length=32)
    expires_at: datetime = Field(sa_column=_ts(index=True))


class WebhookEndpoint(SQLModel, table=True):
    """A user's webhook: where job events go, which ones, and the secrets that sign them.

    After a rotation the previous secret still signs until `previous_secret_expires_at`, so a
    receiver can switch without losing a delivery.
    """

    __tablename__ = "webhook_endpoints"

    user_id: str = Field(primary_key=True, foreign_key="users.id", max_length=32)
    # None: the user only holds a secret, for per-job callbacks.
    url: str | None = Field(default=None, max_length=2000)
    events: str = Field(max_length=200)
    secret: str = Field(max_length=100)
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    # The API key that last set the URL, events or secret (None: before provenance was recorded).
    updated_by_key_id: str | None = Field(default=None, max_length=32)


class WebhookDelivery(SQLModel, table=True):
    """One job event owed to one webhook: appended with the event, in its transaction.

    (event_id, url) is unique, so an event is owed at most once per target; `run` counts the
    delivery workflows started for it (a redelivery starts one more).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "url", name="uq_webhook_deliveries_event_url"),
        sa.Index("ix_webhook_deliveries_user", "user_id", "id"),
        sa.Index("ix_webhook_deliveries_pending", "state", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int
    user_id: str = Field(max_length=32)
    job_id: str = Field(max_length=32)
    type: str = Field(max_length=32)
    url: str = Field(max_length=2000)
    # pending (a workflow must be started) -> sending -> delivered | failed
    state: str = Field(default="pending", max_length=16)
    run: int = Field(default=0)
    attempts: int = Field(default=0)
    last_status: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    delivered_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class WithdrawnSubmission(SQLModel, table=True):
    """A submission the API gave up on (it answered 503): its reservation must never charge.

    Written before the 503, in the database the reservation writes, under the user's row lock;
    the reservation reads it under the same lock, so one of them always sees the other.
    """

    __tablename__ = "withdrawn_submissions"

    submission_id: str = Field(primary_key=True, max_length=32)
    job_id: str = Field(max_length=32, index=True)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ModelAttempt(SQLModel, table=True):
    """One RunPod job a job's model step ended up with: the run, a duplicate, or a dead one.

    Duplicates (a second execution that found the claim) keep their GPU time here, so cost
    accounting counts every execution. One row per (job, RunPod job), whichever attempt sees it.
    """

    __tablename__ = "model_attempts"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "runpod_job_id", name="uq_model_attempts_job_runpod"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=32)
    attempt: int
    generation: int = Field(default=0)
    runpod_job_id: str = Field(max_length=100)
    status: str = Field(max_length=16)
    execution_ms: int | None = None
    delay_ms: int | None = None
    duplicate: bool = Field(default=False)
    duplicate_of: str | None = Field(default=None, max_length=100)
    # GPU cost of this execution at its endpoint's price when it was recorded (USD).
    cost_usd: float | None = None
    # The GPU pool's endpoint it ran on (None: the single endpoint of older rows).
    endpoint: str | None = Field(default=None, max_length=100)
    # Which model output of the job it made: 2 is the quality gate's second try.
    model_try: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))


class ApiKey(SQLModel, table=True):
    """One of a user's named API keys: only its SHA-256 is stored, and a prefix for logs."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    last_used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    revoked_reason: str | None = Field(default=None, max_length=200)
    # The key that created this one (None: created with the account or by an admin).
    created_by_key_id: str | None = Field(default=None, max_length=32, index=True)


class AbuseSignal(SQLModel, table=True):
    """An audited abuse detection (or the suspension it caused): who, what, how many."""

    __tablename__ = "abuse_signals"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    key_id: str | None = Field(default=None, max_length=32, index=True)
    user_id: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=64)
    observed: int
    threshold: str = Field(max_length=64)
    suspended: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))


class Budget(SQLModel, table=True):
    """An admin-set GPU budget (USD) for a period kind, overriding the settings' default."""

    __tablename__ = "budgets"

    period: str = Field(primary_key=True, max_length=16)
    amount_usd: float | None = None
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ServiceControl(SQLModel, table=True):
    """An emergency stop of new submissions for one tier or for all (scope `all`)."""

    __tablename__ = "service_controls"

    scope: str = Field(primary_key=True, max_length=16)
    paused: bool = Field(default=False)
    # Budget pauses a resume lifted, as `period:start` ("day:2026-11-26"), until that period ends.
    overrides: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=200)
    updated_by: str | None = Field(default=None, max_length=32)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class AdminAudit(SQLModel, table=True):
    """One admin control action (stop, resume, budget change): who, what, when."""

    __tablename__ = "admin_audit"

    id: int | None = Field(default=None, primary_key=True)
    actor_id: str = Field(max_length=32)
    action: str = Field(max_length=32)
    scope: str = Field(max_length=16)
    detail: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))


class Alert(SQLModel, table=True):
    """One incident of an alert rule; `open_key` is set while it is open, so the database keeps
    a single open incident per rule key."""

    __tablename__ = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=100, index=True)
    open_key: str | None = Field(default=None, max_length=100, unique=True)
    severity: str = Field(max_length=16)
    message: str = Field(max_length=500)
    opened_at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))
    resolved_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class QueueMetric(SQLModel, table=True):
    """One minute's view of the GPU queue for one tier at one priority key.

    `waiting`, `oldest_wait_s` and `on_gpu` count the tier's jobs at that priority (job rows);
    the `queue_*` figures are Temporal's statistics of the GPU task queue at that priority key,
    all tiers together; the `runpod_*` counts are the endpoint's /health, the same in every row
    of a snapshot. None: that source did not answer. One row per (taken_at, tier, priority).
    """

    __tablename__ = "queue_metrics"
    __table_args__ = (
        sa.UniqueConstraint(
            "taken_at", "tier", "priority_key", name="uq_queue_metrics_taken_tier_priority"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    taken_at: datetime = Field(sa_column=_ts(index=True))
    tier: str = Field(max_length=16)
    priority_key: int
    waiting: int
    oldest_wait_s: float | None = None
    on_gpu: int
    queue_backlog: int | None = None
    queue_backlog_age_s: float | None = None
    queue_add_rate: float | None = None
    queue_dispatch_rate: float | None = None
    runpod_in_queue: int | None = None
    runpod_in_progress: int | None = None
    runpod_workers_idle: int | None = None
    runpod_workers_running: int | None = None


class ErasedUser(SQLModel, table=True):
    """The erasure log: one row per erased account and when its erasure finished. A restore
    from a backup taken before `erased_at` re-applies the erasure (`heirloom erasures
    reapply`), so an erased user never comes back with the restored data."""

    __tablename__ = "erasure_log"

    user_id: str = Field(primary_key=True, max_length=32)
    erased_at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))


class DataExport(SQLModel, table=True):
    """One requested export of a user's data: building, then ready for a day, then expired
    (or failed). At most one is building per user (a partial unique index)."""

    __tablename__ = "data_exports"
    __table_args__ = (
        sa.Index("ix_data_exports_user_created", "user_id", "created_at"),
        sa.Index(
            "uq_data_exports_one_building",
            "user_id",
            unique=True,
            sqlite_where=sa.text("state = 'building'"),
            postgresql_where=sa.text("state = 'building'"),
        ),
    )

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(max_length=32)
    # building -> ready -> expired; building -> failed
    state: str = Field(default="building", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    ready_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    size_bytes: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))


class Purchase(SQLModel, table=True):
    """One Stripe Checkout Session for a pack: what it buys, what was paid and paid back.

    Its id is the session's id. The ledger's unique keys (`purchase:{id}`, `clawback:{id}:...`)
    make crediting and taking back happen once, whatever order the webhooks arrive in.
    """

    __tablename__ = "purchases"
    __table_args__ = (sa.Index("ix_purchases_user_created", "user_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=255)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    pack_id: str = Field(max_length=32)
    credits: int
    price_minor: int
    currency: str = Field(max_length=3)
    # The tier the pack sets (None: credits only) and the tier it replaced, restored on reversal.
    tier: str | None = Field(default=None, max_length=16)
    previous_tier: str | None = Field(default=None, max_length=16)
    # open (session made) -> paid -> refunded | disputed (partly: still paid, refunded_minor > 0)
    status: str = Field(default="open", max_length=16)
    payment_intent: str | None = Field(default=None, max_length=255, unique=True)
    paid_minor: int = Field(default=0)
    reversed_minor: int = Field(default=0)
    credits_taken_back: int = Field(default=0)
    tier_revoked: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    paid_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class PaymentReversal(SQLModel, table=True):
    """What Stripe says was paid back on one payment (refunds) or taken by a dispute, kept by
    payment id so that a refund arriving before its purchase's completion is not lost."""

    __tablename__ = "payment_reversals"

    payment_intent: str = Field(primary_key=True, max_length=255)
    currency: str = Field(max_length=3)
    refunded_minor: int = Field(default=0)
    disputed_minor: int = Field(default=0)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class MoneyMovement(SQLModel, table=True):
    """Money received (a payment, positive) or paid back (a refund or dispute, negative), in
    minor units; the cost report's revenue is their sum. `key` makes each movement once."""

    __tablename__ = "money_movements"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, unique=True)
    kind: str = Field(max_length=16)
    payment_intent: str | None = Field(default=None, max_length=255, index=True)
    user_id: str | None = Field(default=None, max_length=32)
    amount_minor: int
    currency: str = Field(max_length=3)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))


class StripeEvent(SQLModel, table=True):
    """A Stripe webhook event already handled: its id is refused the second time."""

    __tablename__ = "stripe_events"

    id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=100)
    received_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Signup(SQLModel, table=True):
    """A sign-up waiting for its email to be confirmed; only the SHA-256 of the link's token
    is stored, and the link works once, before `expires_at`."""

    __tablename__ = "signups"

    id: str = Field(primary_key=True, max_length=32)
    email: str = Field(max_length=320, index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    user_id: str | None = Field(default=None, max_length=32)


class Album(SQLModel, table=True):
    """Many photos restored with one set of operations: each photo is a job of its own (jobs
    with this album_id), charged together up front; the album's ZIP of results is kept a day,
    and a share link shows every before/after (only the SHA-256 of its token is stored)."""

    __tablename__ = "albums"
    __table_args__ = (sa.Index("ix_albums_user_created", "user_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    operations: str = Field(max_length=32)
    tier: str = Field(max_length=16)
    photos: int
    cost: int
    # running -> completed (every photo ended, however it ended)
    status: str = Field(default="running", max_length=16)
    # The change feed's latest id before the album's first event: its stream starts after it.
    first_event_id: int = Field(default=0)
    zip_key: str | None = Field(default=None, max_length=300)
    zip_expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    share_token_hash: str | None = Field(default=None, max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
