"""Cost accounting: each job's GPU cost (the sum of its model attempts), the value of the
credits it kept, and revenue as the money received (payments less refunds and disputes, by
currency; USD is the revenue the margin is taken against), rolled up by day or month with
rates, percentiles and a month-end forecast."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import col, select

from heirloom.db.engine import Database
from heirloom.db.models import Job, ModelAttempt, MoneyMovement, as_utc, utcnow
from heirloom.domain.costs import month_end_forecast, percentile

Period = Literal["day", "month"]
# The currency revenue and margin are reported in; others are listed in `received` only.
REVENUE_CURRENCY = "usd"
MINOR_PER_UNIT = 100


@dataclass(frozen=True)
class JobCost:
    """One job's money: what its model attempts cost and what it earned."""

    job_id: str
    user_id: str
    tier: str
    operations: str
    status: str
    error_code: str | None
    created_at: datetime
    credits_kept: int
    refunded: bool
    attempts: int
    gpu_seconds: float
    cost_usd: float
    credits_value_usd: float
    # What made the result (jobs.model); None before the model ran.
    model: str | None = None
    # The same as fields, with the seed and handler version (jobs.provenance).
    provenance: dict[str, Any] | None = None


@dataclass(frozen=True)
class CostSummary:
    """Jobs of one period (or all of them) summed up."""

    start: datetime | None
    jobs: int
    completed: int
    failed: int
    cancelled: int
    refunded_jobs: int
    attempts: int
    gpu_seconds: float
    cost_usd: float
    revenue_usd: float
    margin_usd: float
    margin_pct: float | None
    credits_value_usd: float
    payments: int
    refunds: int
    disputes: int
    failure_rate: float | None
    refund_rate: float | None
    gpu_seconds_per_job_p50: float | None
    gpu_seconds_per_job_p95: float | None
    by_tier: dict[str, int] = field(default_factory=dict)
    by_operation: dict[str, int] = field(default_factory=dict)
    # Jobs by the model that made their result ("none": the model never ran).
    by_model: dict[str, int] = field(default_factory=dict)
    # Money received less paid back, by currency, in minor units (cents).
    received: dict[str, int] = field(default_factory=dict)
    # Jobs by the GPU handler version that ran their model (jobs.provenance; "none": unknown).
    by_handler_version: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Movement:
    """Money in (a payment) or out (a refund or dispute), in minor units."""

    kind: str
    amount_minor: int
    currency: str
    at: datetime


@dataclass(frozen=True)
class Forecast:
    """The current month's cost and revenue so far and extrapolated to its end."""

    month: str
    cost_to_date_usd: float
    revenue_to_date_usd: float
    cost_forecast_usd: float
    revenue_forecast_usd: float


@dataclass(frozen=True)
class CostReport:
    period: Period
    start: datetime
    end: datetime
    gpu_price_per_s_usd: float
    credit_price_usd: float
    buckets: list[CostSummary]
    totals: CostSummary
    forecast: Forecast


def period_start(moment: datetime, period: Period) -> datetime:
    """The start (UTC) of the day or month holding `moment`."""
    moment = as_utc(moment).astimezone(UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day if period == "day" else day.replace(day=1)


def next_period(start: datetime, period: Period) -> datetime:
    if period == "day":
        return start + timedelta(days=1)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def summarize(
    start: datetime | None, jobs: list[JobCost], movements: list[Movement] | None = None
) -> CostSummary:
    """Sum a set of jobs and the money that moved; rates are over the jobs that ended."""
    movements = movements or []
    statuses = Counter(job.status for job in jobs)
    ended = statuses["completed"] + statuses["failed"] + statuses["cancelled"]
    refunded = sum(1 for job in jobs if job.refunded)
    cost = sum(job.cost_usd for job in jobs)
    received: dict[str, int] = defaultdict(int)
    for movement in movements:
        received[movement.currency] += movement.amount_minor
    revenue = received.get(REVENUE_CURRENCY, 0) / MINOR_PER_UNIT
    kinds = Counter(movement.kind for movement in movements)
    gpu = [job.gpu_seconds for job in jobs if job.attempts]
    return CostSummary(
        start=start,
        jobs=len(jobs),
        completed=statuses["completed"],
        failed=statuses["failed"],
        cancelled=statuses["cancelled"],
        refunded_jobs=refunded,
        attempts=sum(job.attempts for job in jobs),
        gpu_seconds=sum(gpu),
        cost_usd=cost,
        revenue_usd=revenue,
        margin_usd=revenue - cost,
        margin_pct=(revenue - cost) / revenue * 100 if revenue else None,
        credits_value_usd=sum(job.credits_value_usd for job in jobs),
        payments=kinds["payment"],
        refunds=kinds["refund"],
        disputes=kinds["dispute"],
        failure_rate=statuses["failed"] / ended if ended else None,
        refund_rate=refunded / ended if ended else None,
        gpu_seconds_per_job_p50=percentile(gpu, 50),
        gpu_seconds_per_job_p95=percentile(gpu, 95),
        by_tier=dict(Counter(job.tier for job in jobs)),
        by_operation=dict(Counter(job.operations for job in jobs)),
        by_model=dict(Counter(job.model or "none" for job in jobs)),
        received=dict(received),
        by_handler_version=dict(Counter(_handler_version(job) for job in jobs)),
    )


def _handler_version(job: JobCost) -> str:
    version = (job.provenance or {}).get("handler_version")
    return version if isinstance(version, str) else "none"


class CostLedger:
    """Reads jobs and their model attempts and prices them."""

    def __init__(self, db: Database, *, credit_price_usd: float, gpu_price_per_s_usd: float):
        self.db = db
        self.credit_price_usd = credit_price_usd
        self.gpu_price_per_s_usd = gpu_price_per_s_usd

    def job_costs(self, start: datetime, end: datetime) -> list[JobCost]:
        """Every job created in [start, end) with its attempts' cost."""
        with self.db.session() as session:
            jobs = list(
                session.exec(
                    select(Job)
                    .where(col(Job.created_at) >= start, col(Job.created_at) < end)
                    .order_by(col(Job.created_at))
                )
            )
            totals: dict[str, tuple[int, float, float]] = defaultdict(lambda: (0, 0.0, 0.0))
            ids = [job.id for job in jobs]
            for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                rows = session.execute(
                    sa.select(
                        col(ModelAttempt.job_id),
                        sa.func.count(),
                        sa.func.coalesce(sa.func.sum(col(ModelAttempt.execution_ms)), 0),
                        sa.func.coalesce(sa.func.sum(col(ModelAttempt.cost_usd)), 0.0),
                    )
                    .where(col(ModelAttempt.job_id).in_(chunk))
                    .group_by(col(ModelAttempt.job_id))
                )
                for job_id, count, execution_ms, cost in rows:
                    totals[job_id] = (int(count), int(execution_ms) / 1000, float(cost))
        return [self._job_cost(job, *totals[job.id]) for job in jobs]

    def movements(self, start: datetime, end: datetime) -> list[Movement]:
        """Payments, refunds and disputes recorded in [start, end)."""
        statement = (
            select(MoneyMovement)
            .where(col(MoneyMovement.at) >= start, col(MoneyMovement.at) < end)
            .order_by(col(MoneyMovement.at))
        )
        with self.db.session() as session:
            return [
                Movement(m.kind, m.amount_minor, m.currency, as_utc(m.at))
                for m in session.exec(statement)
            ]

    def _job_cost(self, job: Job, attempts: int, gpu_s: float, cost: float) -> JobCost:
        kept = job.cost - job.refunded
        return JobCost(
            job_id=job.id,
            user_id=job.user_id,
            tier=job.tier,
            operations=job.operations,
            status=job.status,
            error_code=job.error_code,
            created_at=as_utc(job.created_at),
            credits_kept=kept,
            refunded=job.refunded > 0,
            attempts=attempts,
            gpu_seconds=gpu_s,
            cost_usd=cost,
            credits_value_usd=kept * self.credit_price_usd,
            model=job.model,
            provenance=job.provenance,
        )

    def report(
        self, period: Period, start: datetime, end: datetime, *, now: datetime | None = None
    ) -> CostReport:
        """Jobs created in [start, end) by day or month (the first and last periods cut at
        `start` and `end`), their totals and this month's forecast."""
        start, end = as_utc(start), as_utc(end)
        jobs = self.job_costs(start, end)
        moved = self.movements(start, end)
        buckets: list[CostSummary] = []
        cursor = start
        while cursor < end:
            following = min(next_period(period_start(cursor, period), period), end)
            buckets.append(
                summarize(
                    cursor,
                    [j for j in jobs if cursor <= j.created_at < following],
                    [m for m in moved if cursor <= m.at < following],
                )
            )
            cursor = following
        return CostReport(
            period=period,
            start=start,
            end=end,
            gpu_price_per_s_usd=self.gpu_price_per_s_usd,
            credit_price_usd=self.credit_price_usd,
            buckets=buckets,
            totals=summarize(None, jobs, moved),
            forecast=self.forecast(now or utcnow()),
        )

    def forecast(self, now: datetime) -> Forecast:
        month = period_start(now, "month")
        to_date = summarize(month, self.job_costs(month, now), self.movements(month, now))
        return Forecast(
            month=month.strftime("%Y-%m"),
            cost_to_date_usd=to_date.cost_usd,
            revenue_to_date_usd=to_date.revenue_usd,
            cost_forecast_usd=month_end_forecast(to_date.cost_usd, now),
            revenue_forecast_usd=month_end_forecast(to_date.revenue_usd, now),
        )

    def gpu_spend_usd(self, since: datetime) -> float:
        """GPU cost of every model attempt recorded since `since` (what budgets count)."""
        with self.db.session() as session:
            spent = session.execute(
                sa.select(sa.func.coalesce(sa.func.sum(col(ModelAttempt.cost_usd)), 0.0)).where(
                    col(ModelAttempt.created_at) >= since
                )
            ).scalar_one()
        return float(spent)


REPORT_COLUMNS = (
    "period",
    "jobs",
    "completed",
    "failed",
    "cancelled",
    "refunded_jobs",
    "attempts",
    "gpu_seconds",
    "cost_usd",
    "revenue_usd",
    "margin_usd",
    "credits_value_usd",
    "payments",
    "refunds",
    "disputes",
    "failure_rate",
    "refund_rate",
    "gpu_seconds_per_job_p50",
    "gpu_seconds_per_job_p95",
)


def report_rows(report: CostReport) -> list[dict[str, str]]:
    """One row per period and a `total` row, values formatted for a table or CSV."""
    label = "%Y-%m-%d" if report.period == "day" else "%Y-%m"

    def row(summary: CostSummary) -> dict[str, str]:
        values = {name: getattr(summary, name) for name in REPORT_COLUMNS if name != "period"}
        cells = {name: _cell(value) for name, value in values.items()}
        period = summary.start.strftime(label) if summary.start else "total"
        return {"period": period, **cells}

    return [*(row(bucket) for bucket in report.buckets), row(report.totals)]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)
