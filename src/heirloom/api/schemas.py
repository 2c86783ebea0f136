"""Response and request bodies. Internal fields (key hashes, storage keys) never appear."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from heirloom.api.paging import NextCursor
from heirloom.db.models import AuditEntry, Job, QueueMetric, Share, User, as_utc
from heirloom.domain.tiers import Tier
from heirloom.services.ops.alerts import AlertOut
from heirloom.services.queue.endpoints import EndpointLoad
from heirloom.services.queue.positions import QueuePlace
from heirloom.services.queue.task_queues import Backlog, Liveness, QueueState


def _iso_date_time(value: Any) -> Any:
    """Only what the document promises: an RFC 3339 date-time, not a number or a bare date."""
    if isinstance(value, str):
        text = value.strip()
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError("must be an ISO 8601 date-time, e.g. 2026-11-26T00:00:00Z") from None
        if len(text) <= 10:
            raise ValueError("must be a date-time with a time, e.g. 2026-11-26T00:00:00Z")
    return value


# The job id of the document's examples.
JOB_EXAMPLE_ID = "9f1c2e7a4b5d4c0e8a6f3b2d1c0e9a8b"

# A query date-time that accepts exactly what `format: date-time` describes.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_date_time)]


class ErrorBody(BaseModel):
    code: str
    message: str


# Credits granted at once; keeps balances far inside the database's integer range.
MAX_GRANT = 1_000_000


class ErrorInfo(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. rate_limited")
    message: str = Field(description="plain-language explanation for a person")
    details: dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    """The one body of every error answer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "insufficient_credits",
                        "message": "This job costs 4 credits but your balance is 2. "
                        "Buy more credits or choose fewer operations.",
                        "details": {"cost": 4, "balance": 2},
                    }
                }
            ]
        }
    )

    error: ErrorInfo


class RetryRequest(BaseModel):
    """The optional body of `POST /v1/jobs/{id}/retry`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"new_seed": True}]})

    new_seed: bool = Field(
        default=False,
        description="draw a different picture instead of repeating the original's seed",
    )


class ChooseRequest(BaseModel):
    """The body of `POST /v1/jobs/{id}/choose`."""

    candidate: int = Field(ge=1, le=4, description="the candidate that becomes the result")


class CandidateOut(BaseModel):
    """One of a job's candidates: its own seed and files."""

    candidate: int
    seed: int | None
    chosen: bool
    quality: str = Field(description="passed, or flagged by the quality gate")
    width: int
    height: int
    result_url: str | None
    thumbnail_url: str | None
    comparison_url: str | None


class JobOut(BaseModel):
    """A job as its owner sees it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": JOB_EXAMPLE_ID,
                    "status": "completed",
                    "stage": "done",
                    "progress": 100,
                    "operations": ["restore", "colorize"],
                    "tier": "paid",
                    "credits_charged": 4,
                    "credits_refunded": 0,
                    "error": None,
                    "width": 1280,
                    "height": 960,
                    "retry_of": None,
                    "created_at": "2026-12-07T10:00:00Z",
                    "started_at": "2026-12-07T10:00:01Z",
                    "finished_at": "2026-12-07T10:00:41Z",
                    "result_url": f"/v1/jobs/{JOB_EXAMPLE_ID}/result",
                    "thumbnail_url": f"/v1/jobs/{JOB_EXAMPLE_ID}/thumbnail",
                    "comparison_url": f"/v1/jobs/{JOB_EXAMPLE_ID}/comparison",
                    "original_url": f"/v1/jobs/{JOB_EXAMPLE_ID}/original",
                    "expires_at": None,
                }
            ]
        }
    )

    id: str
    status: str
    stage: str
    progress: int = Field(ge=0, le=100)
    operations: list[str]
    tier: str
    credits_charged: int
    credits_refunded: int
    error: ErrorBody | None
    width: int | None
    height: int | None
    retry_of: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result_url: str | None
    thumbnail_url: str | None
    comparison_url: str | None
    queue_position: int | None = Field(
        default=None, description="while waiting for a GPU: jobs dispatched before this one"
    )
    estimated_start_at: datetime | None = None
    estimated_finish_at: datetime | None = None
    original_url: str | None = None
    expires_at: datetime | None = Field(
        default=None, description="when the job's files are deleted; null keeps them"
    )
    metadata: dict[str, Any] | None = Field(
        default=None, description="format, size, colour mode, capture date and camera"
    )
    model: str | None = Field(
        default=None,
        description=(
            "what made the result: the model, its LoRA and their revisions, as the GPU "
            "handler names them; null until the model has run"
        ),
    )
    album_id: str | None = Field(
        default=None, description="the album the photo came in with (GET /v1/albums/{id})"
    )
    candidate_count: int = Field(
        default=1, description="candidates asked for (model runs with different seeds)"
    )
    candidates: list[CandidateOut] | None = Field(
        default=None,
        description=(
            "a job with candidates, once completed: each kept one with its seed and files; "
            "POST /v1/jobs/{id}/choose makes one the result (the first until then)"
        ),
    )
    provenance: dict[str, Any] | None = Field(
        default=None,
        description=(
            "what made the result, as fields: model_id, revision, lora, lora_revision, steps, "
            "cfg, seed, handler_version, engine (null: unpinned or not used); null until the "
            "model has run"
        ),
    )
    quality: dict[str, Any] | None = Field(
        default=None,
        description=(
            "what the quality gate found in the result: verdict (passed, flagged, failed, "
            "not_checked), tries, faces_found, identity_distance, structure_score, checks, "
            "summary (a sentence for the user); null until the gate has decided"
        ),
    )

    @classmethod
    def from_job(cls, job: Job, place: QueuePlace | None = None) -> JobOut:
        done = job.result_key is not None and job.status == "completed"
        kept = job.status not in ("expired", "deleted")
        base = f"/v1/jobs/{job.id}"
        return cls(
            id=job.id,
            status=job.status,
            stage=job.stage,
            progress=job.progress,
            operations=job.operations.split(","),
            tier=job.tier,
            credits_charged=job.cost,
            credits_refunded=job.refunded,
            error=(
                ErrorBody(code=job.error_code, message=job.error_message or "")
                if job.error_code
                else None
            ),
            width=job.width,
            height=job.height,
            retry_of=job.retry_of,
            created_at=as_utc(job.created_at),
            started_at=as_utc(job.started_at) if job.started_at else None,
            finished_at=as_utc(job.finished_at) if job.finished_at else None,
            result_url=f"{base}/result" if done else None,
            thumbnail_url=f"{base}/thumbnail" if done else None,
            comparison_url=f"{base}/comparison" if done else None,
            queue_position=place.position if place else None,
            estimated_start_at=place.estimated_start_at if place else None,
            estimated_finish_at=place.estimated_finish_at if place else None,
            original_url=f"{base}/original" if kept else None,
            expires_at=as_utc(job.expires_at) if job.expires_at else None,
            metadata=job.photo_metadata,
            model=job.model,
            album_id=job.album_id,
            candidate_count=job.candidates,
            candidates=_candidates(job, base, kept=kept) if job.candidate_results else None,
            provenance=job.provenance,
            quality=job.quality,
        )


def _candidates(job: Job, base: str, *, kept: bool) -> list[CandidateOut]:
    links = kept and job.status == "completed"
    return [
        CandidateOut(
            candidate=record["candidate"],
            seed=record["seed"],
            chosen=record["candidate"] == job.chosen_candidate,
            quality=record["quality"],
            width=record["width"],
            height=record["height"],
            **{
                f"{kind}_url": (
                    f"{base}/candidates/{record['candidate']}/{kind}" if links else None
                )
                for kind in ("result", "thumbnail", "comparison")
            },
        )
        for record in job.candidate_results or []
    ]


class JobList(BaseModel):
    jobs: list[JobOut]
    next_cursor: NextCursor
    limit: int
    offset: int = Field(description="the older paging by position; 0 with `cursor`")


class StorageOut(BaseModel):
    """What the caller keeps against the tier's quota (null limits: none)."""

    bytes_used: int
    bytes_limit: int | None
    results_kept: int
    results_limit: int | None


class MeOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3b0c6f1e9d2a4e7b8c5d1f0a2e4b6c8d",
                    "email": "ada@example.com",
                    "tier": "paid",
                    "role": "user",
                    "balance": 36,
                    "jobs_today": 2,
                    "daily_job_limit": 100,
                    "daily_limit_resets_at": "2026-12-08T00:00:00Z",
                }
            ]
        }
    )

    id: str
    email: str
    tier: str
    role: str
    balance: int
    debt: int = Field(
        default=0, description="Credits a refunded purchase still owes; while > 0 no job starts."
    )
    jobs_today: int
    daily_job_limit: int | None
    daily_limit_resets_at: datetime
    storage: StorageOut | None = None


class LedgerLineOut(BaseModel):
    id: int
    kind: str
    amount: int
    reason: str
    job_id: str | None
    created_at: datetime


class LedgerPage(BaseModel):
    entries: list[LedgerLineOut]
    next_cursor: NextCursor
    next_before_id: int | None = Field(description="the older form of `next_cursor`")


class TierOut(BaseModel):
    tier: str
    task_queue: str
    output_long_side: int
    output_short_side: int | None = None
    watermark: bool
    storage_days: int | None
    daily_job_limit: int | None
    model_attempts: int
    max_active_jobs: int | None
    rate_limit: str
    gpu_priority: int = Field(description="the model step's place in the GPU queue; 1 goes first")
    storage_quota_bytes: int | None = None
    storage_quota_results: int | None = None
    max_candidates: int = Field(
        default=1, description="candidates (model runs with different seeds) a job may ask for"
    )
    candidate_price_percent: int = Field(
        default=100,
        description="percent of the job's price (rounded up) each candidate beyond the first adds",
    )


class PackOut(BaseModel):
    """A credit pack or the forever tier, as sold."""

    id: str
    name: str
    credits: int
    price_minor: int = Field(description="Price in the currency's minor units (cents).")
    currency: str
    tier: Tier | None = Field(description="The tier a purchase sets (null: credits only).")


class SignupIn(BaseModel):
    email: str = Field(
        min_length=3,
        max_length=320,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="The address the confirmation link goes to.",
    )


class SignupAccepted(BaseModel):
    message: str


class SignupConfirmIn(BaseModel):
    token: str = Field(min_length=16, max_length=128)


class SignupConfirmed(BaseModel):
    user_id: str
    email: str
    tier: Tier
    balance: int
    api_key: str = Field(description="The account's first API key, shown this once.")


class CheckoutIn(BaseModel):
    pack: str = Field(min_length=1, max_length=32, description="A pack id from GET /v1/pricing.")


class CheckoutOut(BaseModel):
    purchase_id: str
    url: str = Field(description="Stripe Checkout's page, where the buyer pays.")


class StripeWebhookOut(BaseModel):
    received: bool = True
    duplicate: bool = Field(description="The event id was handled before; nothing changed.")


class PurchaseOut(BaseModel):
    """A receipt: what was bought, paid and paid back."""

    id: str
    pack_id: str
    credits: int
    price_minor: int
    currency: str
    tier: Tier | None
    status: str = Field(description="open, paid, refunded or disputed")
    paid_minor: int
    reversed_minor: int = Field(description="Refunded or disputed, in minor units.")
    credits_taken_back: int
    created_at: datetime
    paid_at: datetime | None


class AdminPurchaseOut(PurchaseOut):
    user_id: str


class PurchasePage(BaseModel):
    purchases: list[PurchaseOut]
    next_cursor: NextCursor = None


class AdminPurchasePage(BaseModel):
    purchases: list[AdminPurchaseOut]
    next_cursor: NextCursor = None


class PricingOut(BaseModel):
    currency: str = "credits"
    prices: dict[str, int]
    cancel_kept_percent: int = Field(
        description="Percent of the price kept (rounded up) when a job is cancelled after its "
        "model started; before that a cancel refunds in full."
    )
    cancel_rule: str = Field(description="The cancel rule in words.")
    tiers: list[TierOut]
    packs: list[PackOut] = Field(
        default_factory=list, description="What can be bought through POST /v1/checkout."
    )


class UserCreate(BaseModel):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)
    tier: Tier = Tier.FREE
    credits: int = Field(default=0, ge=0, le=MAX_GRANT, strict=True)


class UserOut(BaseModel):
    id: str
    email: str
    tier: str
    role: str
    balance: int

    @classmethod
    def from_user(cls, user: User) -> UserOut:
        return cls(
            id=user.id, email=user.email, tier=user.tier, role=user.role, balance=user.balance
        )


class UserSummaryOut(UserOut):
    """A user in the operators' list."""

    created_at: datetime
    jobs: int = Field(description="jobs the user ever submitted, deleted ones included")


class UserPage(BaseModel):
    users: list[UserSummaryOut]
    next_cursor: NextCursor
    limit: int
    offset: int = Field(description="the older paging by position; 0 with `cursor`")


class UserCreated(UserOut):
    api_key: str = Field(description="shown once; store it now")


class UserUpdate(BaseModel):
    tier: Tier


class GrantIn(BaseModel):
    amount: int = Field(gt=0, le=MAX_GRANT, strict=True)
    reason: str = Field(min_length=1, max_length=200)


class GrantOut(BaseModel):
    entry: LedgerLineOut
    balance: int


class AdminJobOut(JobOut):
    """A job as an operator sees it: the owner, the provider's job, why and by whom it ended."""

    user_id: str
    runpod_job_id: str | None
    error_detail: str | None
    ended_by: str | None
    workflow_url: str = Field(description="the job's workflow in the Temporal Web UI")

    @classmethod
    def for_operator(cls, job: Job, workflow_url: str) -> AdminJobOut:
        return cls(
            **JobOut.from_job(job).model_dump(),
            user_id=job.user_id,
            runpod_job_id=job.runpod_job_id,
            error_detail=job.error_detail,
            ended_by=job.ended_by,
            workflow_url=workflow_url,
        )


class TierQueueOut(BaseModel):
    tier: str
    waiting: int = Field(description="jobs whose model step waits for a GPU")
    on_gpu: int = Field(description="jobs whose model runs now")
    oldest_wait_s: float | None = Field(description="how long the oldest waiting job has waited")
    p50_wait_s: float | None = Field(
        description="median wait for a GPU of the jobs whose model started in the last hour"
    )


class QueueOut(BaseModel):
    gpu_pool_size: int
    tiers: list[TierQueueOut]


class BacklogOut(BaseModel):
    """Temporal's approximate statistics of a task queue (or of one priority key in it)."""

    backlog: int = Field(description="tasks waiting for a worker")
    backlog_age_s: float = Field(description="how long the oldest waiting task has waited")
    add_rate: float = Field(description="tasks added per second, recently")
    dispatch_rate: float = Field(description="tasks handed to workers per second, recently")

    @classmethod
    def of(cls, backlog: Backlog) -> BacklogOut:
        return cls(
            backlog=backlog.count,
            backlog_age_s=backlog.age_s,
            add_rate=backlog.add_rate,
            dispatch_rate=backlog.dispatch_rate,
        )


class PriorityBacklogOut(BacklogOut):
    priority_key: int = Field(description="Temporal task priority; 1 is dispatched first")


class TaskQueueStatsOut(BacklogOut):
    task_queue: str
    task_type: str = Field(description="workflow or activity tasks")
    pollers: int = Field(description="workers seen polling it (identities)")
    by_priority: list[PriorityBacklogOut]

    @classmethod
    def of_state(cls, state: QueueState) -> TaskQueueStatsOut:
        return cls(
            task_queue=state.task_queue,
            task_type=state.task_type.value,
            pollers=len(state.pollers),
            by_priority=[
                PriorityBacklogOut(priority_key=key, **BacklogOut.of(b).model_dump())
                for key, b in state.by_priority.items()
            ],
            **BacklogOut.of(state.backlog).model_dump(),
        )


class EndpointOut(BaseModel):
    """One RunPod endpoint of the GPU pool: configuration, load and the last hour's attempts."""

    id: str
    gpu_slots: int = Field(description="GPUs one worker process may fill on it")
    price_per_s_usd: float
    tiers: list[str] = Field(description="tiers whose jobs it runs (empty: every tier)")
    run_per_10s: float
    status_per_10s: float
    cancel_per_10s: float
    in_flight: int = Field(description="model steps with a RunPod job on it now")
    attempts_last_hour: int
    failed_last_hour: int = Field(description="of those, FAILED or TIMED_OUT")
    gpu_s_last_hour: float
    cost_usd_last_hour: float = Field(description="at its price per GPU second")
    consecutive_failures: int = Field(description="its latest attempts that failed in a row")
    failing: bool = Field(
        description=(
            "its latest attempts failed often enough, recently enough, for workers to hold "
            "new jobs back from it (each worker's own view: its metrics)"
        )
    )

    @classmethod
    def of(cls, load: EndpointLoad) -> EndpointOut:
        config = load.config
        return cls(
            id=config.id,
            gpu_slots=config.gpu_slots,
            price_per_s_usd=config.price_per_s_usd or 0.0,
            tiers=[tier.value for tier in config.tiers],
            run_per_10s=config.run_per_10s,
            status_per_10s=config.status_per_10s,
            cancel_per_10s=config.cancel_per_10s,
            in_flight=load.in_flight,
            attempts_last_hour=load.attempts_last_hour,
            failed_last_hour=load.failed_last_hour,
            gpu_s_last_hour=load.gpu_s_last_hour,
            cost_usd_last_hour=load.cost_usd_last_hour,
            consecutive_failures=load.consecutive_failures,
            failing=load.failing,
        )


class AdminQueueOut(BaseModel):
    gpu_pool_size: int
    gpu_in_flight: int = Field(description="model steps holding a GPU slot (job rows)")
    runpod_jobs_in_flight: int = Field(description="of those, the ones with a RunPod job")
    endpoints: list[EndpointOut] = Field(description="the GPU pool's RunPod endpoints")
    task_queues: list[TaskQueueStatsOut]


class QueueMetricOut(BaseModel):
    """One snapshot row: a tier at one GPU priority key (see README, queue metrics)."""

    taken_at: datetime
    tier: str
    priority_key: int
    waiting: int
    oldest_wait_s: float | None
    on_gpu: int
    queue_backlog: int | None
    queue_backlog_age_s: float | None
    queue_add_rate: float | None
    queue_dispatch_rate: float | None
    runpod_in_queue: int | None
    runpod_in_progress: int | None
    runpod_workers_idle: int | None
    runpod_workers_running: int | None

    @classmethod
    def from_row(cls, row: QueueMetric) -> QueueMetricOut:
        values = row.model_dump(exclude={"id"})
        return cls(**{**values, "taken_at": as_utc(row.taken_at)})


class QueueMetricsPage(BaseModel):
    rows: list[QueueMetricOut]
    truncated: bool = Field(description="more rows matched than one answer holds; narrow it")


class PollerOut(BaseModel):
    identity: str
    task_type: str
    last_access_at: datetime
    alive: bool


class QueueLivenessOut(BaseModel):
    task_queue: str
    alive: bool = Field(description="each task type it serves was polled within alive_within_s")
    pollers: list[PollerOut]

    @classmethod
    def of(cls, live: Liveness) -> QueueLivenessOut:
        return cls(
            task_queue=live.task_queue,
            alive=live.alive,
            pollers=[
                PollerOut(
                    identity=p.identity,
                    task_type=p.task_type.value,
                    last_access_at=p.last_access_at,
                    alive=p.alive,
                )
                for p in live.pollers
            ],
        )


class CheckOut(BaseModel):
    ok: bool
    detail: str


class AdminHealthOut(BaseModel):
    status: str = Field(description="ready or not_ready, as /readyz")
    checks: dict[str, CheckOut]
    alive_within_s: float
    task_queues: list[QueueLivenessOut]


class KeyCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "laptop"}]})

    name: str = Field(min_length=1, max_length=100, description="what the key is for")


class KeyOut(BaseModel):
    """An API key as its owner sees it: a name and a visible prefix, never the key."""

    id: str
    name: str
    prefix: str = Field(description="the key's first characters, as logs show it")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str | None
    created_by_key_id: str | None = Field(
        default=None,
        description="the key that created this one (none: the account's or an admin's)",
    )


class KeyCreated(KeyOut):
    api_key: str = Field(description="shown once; store it now")


class KeyRevoke(BaseModel):
    cascade: bool = Field(
        default=False,
        description=(
            "also revoke every key this key created (at any depth), the share links they "
            "created, and the webhook if one of them set it last"
        ),
    )


class KeyRevoked(BaseModel):
    """What a revocation ended."""

    revoked_key_ids: list[str] = Field(description="the key named first, then those it created")
    revoked_share_ids: list[str]
    webhook_removed: bool


class KeyList(BaseModel):
    keys: list[KeyOut]
    next_cursor: NextCursor


class AbuseSignalOut(BaseModel):
    id: int
    kind: str
    key_id: str | None
    user_id: str | None
    address: str | None
    observed: int
    threshold: str
    suspended: bool
    created_at: datetime


class AbuseSignalPage(BaseModel):
    signals: list[AbuseSignalOut]
    next_cursor: NextCursor
    next_before_id: int | None = Field(description="the older form of `next_cursor`")


class ShareCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"expires_in": 86400, "allow_download": False}]}
    )

    expires_in: int | None = Field(
        default=None, gt=0, description="seconds the link stays valid (default 7 days)"
    )
    allow_download: bool = False


class ShareOut(BaseModel):
    """A share link as its owner sees it; `url` carries the token only in the create answer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5d2e8f1a7c3b4e6d9a0b1c2d3e4f5a6b",
                    "job_id": JOB_EXAMPLE_ID,
                    "url": "https://heirloom.example/s/Zk3x9QyP2m",
                    "allow_download": False,
                    "views": 0,
                    "created_at": "2026-12-07T10:05:00Z",
                    "expires_at": "2026-12-08T10:05:00Z",
                    "revoked_at": None,
                    "status": "active",
                }
            ]
        }
    )

    id: str
    job_id: str
    url: str | None
    allow_download: bool
    views: int
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    status: str

    @classmethod
    def from_share(cls, share: Share, *, now: datetime, url: str | None = None) -> ShareOut:
        expires = as_utc(share.expires_at) if share.expires_at else None
        if share.revoked_at is not None:
            state = "revoked"
        elif expires is not None and expires <= now:
            state = "expired"
        else:
            state = "active"
        return cls(
            id=share.id,
            job_id=share.job_id,
            url=url,
            allow_download=share.allow_download,
            views=share.views,
            created_at=as_utc(share.created_at),
            expires_at=expires,
            revoked_at=as_utc(share.revoked_at) if share.revoked_at else None,
            status=state,
        )


class ShareList(BaseModel):
    shares: list[ShareOut]
    next_cursor: NextCursor


class AuditOut(BaseModel):
    id: int
    owner_id: str
    actor: str
    action: str
    job_id: str | None
    share_id: str | None
    via: str
    ip: str | None
    user_agent: str | None
    at: datetime

    @classmethod
    def from_entry(cls, entry: AuditEntry) -> AuditOut:
        assert entry.id is not None
        return cls(**{**entry.model_dump(), "id": entry.id, "at": as_utc(entry.at)})


class AuditPage(BaseModel):
    entries: list[AuditOut]
    next_cursor: NextCursor
    next_before_id: int | None = Field(description="the older form of `next_cursor`")


class ErasureOut(BaseModel):
    """The account is closed; its data is being erased by the named workflow."""

    status: str
    workflow_id: str


class ExportOut(BaseModel):
    """A data export: `building`, `ready` (download until `expires_at`), `expired` or
    `failed` (start another)."""

    id: str
    status: str
    created_at: datetime
    status_url: str
    download_url: str | None = None
    expires_at: datetime | None = None
    size_bytes: int | None = None


class ExportList(BaseModel):
    """The caller's exports, newest first."""

    exports: list[ExportOut]
    next_cursor: NextCursor


class AlertList(BaseModel):
    alerts: list[AlertOut]
    next_cursor: NextCursor = None


class ControlAction(BaseModel):
    """One admin control action: who paused, resumed or changed a budget, and why."""

    id: int
    actor_id: str
    action: str
    scope: str
    detail: str | None
    created_at: datetime


class ControlAuditList(BaseModel):
    actions: list[ControlAction]
    next_cursor: NextCursor = None
