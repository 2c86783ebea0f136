"""Response and request bodies. Internal fields (key hashes, storage keys) never appear."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from heirloom.db.models import Job, User, as_utc
from heirloom.domain.tiers import Tier
from heirloom.services.gpu_queue import QueuePlace


class ErrorBody(BaseModel):
    code: str
    message: str


class RetryRequest(BaseModel):
    """The optional body of `POST /v1/jobs/{id}/retry`."""

    new_seed: bool = Field(
        default=False,
        description="draw a different picture instead of repeating the original's seed",
    )


class JobOut(BaseModel):
    """A job as its owner sees it."""

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

    @classmethod
    def from_job(cls, job: Job, place: QueuePlace | None = None) -> JobOut:
        done = job.result_key is not None and job.status == "completed"
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
        )


class JobList(BaseModel):
    jobs: list[JobOut]
    limit: int
    offset: int


class MeOut(BaseModel):
    id: str
    email: str
    tier: str
    role: str
    balance: int
    jobs_today: int
    daily_job_limit: int | None
    daily_limit_resets_at: datetime


class LedgerLineOut(BaseModel):
    id: int
    kind: str
    amount: int
    reason: str
    job_id: str | None
    created_at: datetime


class LedgerPage(BaseModel):
    entries: list[LedgerLineOut]
    next_before_id: int | None


class TierOut(BaseModel):
    tier: str
    task_queue: str
    output_long_side: int
    watermark: bool
    storage_days: int | None
    daily_job_limit: int | None
    model_attempts: int
    gpu_priority: int = Field(description="the model step's place in the GPU queue; 1 goes first")


class PricingOut(BaseModel):
    currency: str = "credits"
    prices: dict[str, int]
    tiers: list[TierOut]


class UserCreate(BaseModel):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)
    tier: Tier = Tier.FREE
    credits: int = Field(default=0, ge=0)


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


class UserCreated(UserOut):
    api_key: str = Field(description="shown once; store it now")


class UserUpdate(BaseModel):
    tier: Tier


class GrantIn(BaseModel):
    amount: int = Field(gt=0)
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


class QueueOut(BaseModel):
    gpu_pool_size: int
    tiers: list[TierQueueOut]
