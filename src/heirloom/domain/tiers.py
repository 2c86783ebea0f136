"""Tiers and their rules, as data. Settings may override any value."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from heirloom.domain.task_queues import tier_task_queue


class Tier(StrEnum):
    """A user's plan; each has its own Temporal task queue."""

    FREE = "free"
    PAID = "paid"
    FOREVER = "forever"

    @property
    def task_queue(self) -> str:
        return tier_task_queue(self.value)


class TierRules(BaseModel):
    """What a tier gets: output size, watermark, retention, limits and model-call attempts.

    The output size is a frame in the photo's own orientation: the long side fits
    `output_long_side`, the short side `output_short_side` (854x480 is "480p").
    """

    model_config = ConfigDict(frozen=True)

    output_long_side: int = Field(
        gt=0, description="Pixels the result's long side fits, in the photo's orientation."
    )
    output_short_side: int | None = Field(
        default=None, gt=0, description="Pixels the result's short side fits (unset: any)."
    )
    watermark: bool = Field(description="Whether results carry a watermark.")
    storage_days: int | None = Field(
        default=None, description="Days a job's files are kept (unset: forever)."
    )
    daily_job_limit: int | None = Field(
        default=None, description="Jobs a user may submit per UTC day (unset: no limit)."
    )
    model_attempts: int = Field(ge=1, description="Attempts of the model call, first included.")
    max_active_jobs: int | None = Field(
        default=None, ge=1, description="Queued or running jobs a user may have (unset: no cap)."
    )
    rate_limit: str = Field(
        default="1200/minute",
        description="API requests per user (all their keys together), `limits` notation.",
    )
    gpu_priority: int = Field(
        default=3,
        ge=1,
        le=5,
        description="Temporal task priority of the model step in the GPU queue (1 goes first).",
    )
    storage_quota_bytes: int | None = Field(
        default=None, description="Bytes of stored photos a user may keep (unset: no limit)."
    )
    storage_quota_results: int | None = Field(
        default=None, description="Jobs with files a user may keep (unset: no limit)."
    )
    max_candidates: int = Field(
        default=1,
        ge=1,
        le=4,
        description="Candidates (model runs with different seeds) a job may ask for to pick from.",
    )
    candidate_price_percent: int = Field(
        default=100,
        ge=0,
        le=100,
        description=("Percent of a job's price (rounded up) each candidate beyond the first adds."),
    )


# Every tier caps a user's daily and in-progress jobs: with no cap one user's submit-and-cancel
# loop, or a flood of jobs, could hold the GPU queue and spend the tier's GPU budget for all.
DEFAULT_TIER_RULES: dict[Tier, TierRules] = {
    Tier.FREE: TierRules(
        output_long_side=854,
        output_short_side=480,
        watermark=True,
        storage_days=7,
        daily_job_limit=3,
        model_attempts=2,
        max_active_jobs=3,
        rate_limit="600/minute",
        gpu_priority=4,
        storage_quota_bytes=500 * 1024 * 1024,
        storage_quota_results=50,
    ),
    Tier.PAID: TierRules(
        output_long_side=1280,
        output_short_side=720,
        watermark=False,
        daily_job_limit=100,
        model_attempts=4,
        max_active_jobs=10,
        gpu_priority=2,
        storage_quota_bytes=20 * 1024**3,
        max_candidates=4,
        candidate_price_percent=50,
    ),
    Tier.FOREVER: TierRules(
        output_long_side=1280,
        output_short_side=720,
        watermark=False,
        daily_job_limit=100,
        model_attempts=4,
        max_active_jobs=10,
        gpu_priority=2,
        storage_quota_bytes=50 * 1024**3,
        max_candidates=4,
        candidate_price_percent=50,
    ),
}
