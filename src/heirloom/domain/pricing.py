"""Prices per operation set and the one rule deciding whether a job may run, and at what cost."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from heirloom.domain.errors import (
    DailyLimitReached,
    InsufficientCredits,
    InvalidRequest,
    OutstandingDebt,
    TooManyActiveJobs,
)
from heirloom.domain.jobs import Operation
from heirloom.domain.tiers import Tier, TierRules


class Prices(BaseModel):
    """Credits per job: single operations, and the discounted price for both together."""

    model_config = ConfigDict(frozen=True)

    restore: int = Field(default=2, description="Credits for a restore job.")
    colorize: int = Field(default=3, description="Credits for a colorize job.")
    restore_colorize: int = Field(
        default=4, description="Credits for a job that restores and colorizes."
    )
    cancel_kept_percent: int = Field(
        default=50,
        ge=0,
        le=100,
        description=(
            "Percent of a job's price kept (rounded up) when its owner cancels it after the model "
            "started on the GPU; a cancel before that refunds in full."
        ),
    )

    def cost(self, operations: tuple[Operation, ...]) -> int:
        ops = set(operations)
        if ops == {Operation.RESTORE, Operation.COLORIZE}:
            return self.restore_colorize
        if ops == {Operation.RESTORE}:
            return self.restore
        if ops == {Operation.COLORIZE}:
            return self.colorize
        raise ValueError(f"no price for operations {sorted(ops)}")

    def cancel_refund(self, cost: int, *, model_started: bool) -> int:
        """Credits given back when the owner cancels: all of them before the model started on
        the GPU, the price less `cancel_kept_percent` (rounded up) once it has."""
        if not model_started:
            return cost
        return cost - math.ceil(cost * self.cancel_kept_percent / 100)

    def cancel_rule(self) -> str:
        """The cancel rule in the words pricing pages and `GET /v1/pricing` show."""
        return (
            "Cancelling before the model starts on the GPU refunds the whole price; once it has "
            f"started, the GPU is stopped and {self.cancel_kept_percent}% of the price "
            "(rounded up) is kept, the rest refunded."
        )


@dataclass(frozen=True)
class JobQuote:
    """The answer to "may this user run this job now, and at what cost"."""

    cost: int
    tier: Tier
    rules: TierRules


def day_start(now: datetime) -> datetime:
    """Daily limits count jobs per UTC day, from midnight UTC."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def next_daily_reset(now: datetime) -> datetime:
    """When today's daily limit resets: the next UTC midnight."""
    return day_start(now) + timedelta(days=1)


def job_cost(price: int, candidates: int, rules: TierRules) -> int:
    """A job's price with `candidates` candidates: each beyond the first adds the tier's
    `candidate_price_percent` of the price, rounded up. InvalidRequest past the tier's limit."""
    if not 1 <= candidates <= rules.max_candidates:
        raise InvalidRequest(
            f"candidates must be 1 to {rules.max_candidates} on your plan.",
            candidates=candidates,
            max_candidates=rules.max_candidates,
        )
    return price + (candidates - 1) * math.ceil(price * rules.candidate_price_percent / 100)


def quote_job(
    *,
    operations: tuple[Operation, ...],
    tier: Tier,
    balance: int,
    jobs_today: int,
    prices: Prices,
    tier_rules: dict[Tier, TierRules],
    now: datetime,
    active_jobs: int = 0,
    debt: int = 0,
    candidates: int = 1,
) -> JobQuote:
    """Decide whether a job may run now and what it costs; raise the refusal otherwise."""
    rules = tier_rules[tier]
    cost = job_cost(prices.cost(operations), candidates, rules)
    # Credits taken back by a refund or dispute that the balance could not cover.
    if debt > 0:
        raise OutstandingDebt(debt=debt)
    if rules.daily_job_limit is not None and jobs_today >= rules.daily_job_limit:
        raise DailyLimitReached(limit=rules.daily_job_limit, resets_at=next_daily_reset(now))
    if rules.max_active_jobs is not None and active_jobs >= rules.max_active_jobs:
        raise TooManyActiveJobs(limit=rules.max_active_jobs)
    if balance < cost:
        raise InsufficientCredits(cost=cost, balance=balance)
    return JobQuote(cost=cost, tier=tier, rules=rules)
