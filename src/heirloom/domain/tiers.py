"""Tiers and their rules, as data. Settings may override any value."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Tier(StrEnum):
    """A user's plan; each has its own Temporal task queue."""

    FREE = "free"
    PAID = "paid"
    FOREVER = "forever"

    @property
    def task_queue(self) -> str:
        return f"heirloom-{self.value}"


class TierRules(BaseModel):
    """What a tier gets: output size, watermark, retention, limits and model-call attempts."""

    model_config = ConfigDict(frozen=True)

    output_long_side: int = Field(gt=0)
    watermark: bool
    storage_days: int | None = Field(default=None, description="None keeps results forever")
    daily_job_limit: int | None = Field(default=None, description="None means no daily limit")
    model_attempts: int = Field(ge=1, description="attempts of the model call, first included")
    gpu_priority: int = Field(
        default=3,
        ge=1,
        le=5,
        description="Temporal task priority of the model step in the GPU queue (1 goes first)",
    )


DEFAULT_TIER_RULES: dict[Tier, TierRules] = {
    Tier.FREE: TierRules(
        output_long_side=854,
        watermark=True,
        storage_days=7,
        daily_job_limit=3,
        model_attempts=2,
        gpu_priority=4,
    ),
    Tier.PAID: TierRules(output_long_side=1280, watermark=False, model_attempts=4, gpu_priority=2),
    Tier.FOREVER: TierRules(
        output_long_side=1280, watermark=False, model_attempts=4, gpu_priority=2
    ),
}
