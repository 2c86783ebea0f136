"""Usage analytics over a time range: jobs per day by tier and operation, active users per
tier, stage times p50/p95, retry and failure rates by error code, and the quality gate's
retries with their GPU cost."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from heirloom.db.engine import Database
from heirloom.db.models import Job, ModelAttempt, as_utc
from heirloom.domain.costs import percentile


@dataclass(frozen=True)
class DayCount:
    day: str
    tier: str
    operations: str
    jobs: int


@dataclass(frozen=True)
class StageTimes:
    """Seconds: p50 and p95 over the jobs (or model attempts) that have the stage."""

    stage: str
    count: int
    p50_s: float | None
    p95_s: float | None


@dataclass(frozen=True)
class FailureRates:
    jobs_ended: int
    jobs_with_model_retries: int
    retry_rate: float | None
    failure_rate: float | None
    failures_by_code: dict[str, int]
    failure_rate_by_code: dict[str, float]


@dataclass(frozen=True)
class QualityGate:
    """The quality gate over ended jobs: how often it asked for a second model try, what those
    tries cost on the GPU, and how the jobs ended."""

    jobs_checked: int
    jobs_retried: int
    retry_rate: float | None
    flagged: int
    rejected: int
    extra_gpu_cost_usd: float
    gpu_cost_usd: float
    extra_gpu_share: float | None


class Analytics:
    """Reads jobs created in [start, end) and their model attempts."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _jobs(self, start: datetime, end: datetime) -> list[Job]:
        with self.db.session() as session:
            return list(
                session.exec(
                    select(Job).where(col(Job.created_at) >= start, col(Job.created_at) < end)
                )
            )

    def _attempts(self, job_ids: list[str]) -> list[ModelAttempt]:
        rows: list[ModelAttempt] = []
        with self.db.session() as session:
            for i in range(0, len(job_ids), 500):
                chunk = job_ids[i : i + 500]
                rows += session.exec(
                    select(ModelAttempt).where(col(ModelAttempt.job_id).in_(chunk))
                )
        return rows

    def jobs_per_day(self, start: datetime, end: datetime) -> list[DayCount]:
        counts = Counter(
            (as_utc(j.created_at).date().isoformat(), j.tier, j.operations)
            for j in self._jobs(start, end)
        )
        return [DayCount(d, t, o, n) for (d, t, o), n in sorted(counts.items())]

    def active_users(self, start: datetime, end: datetime) -> dict[str, int]:
        users: dict[str, set[str]] = defaultdict(set)
        for job in self._jobs(start, end):
            users[job.tier].add(job.user_id)
        return {tier: len(ids) for tier, ids in sorted(users.items())}

    def stage_times(self, start: datetime, end: datetime) -> list[StageTimes]:
        jobs = self._jobs(start, end)
        queued = [
            (as_utc(j.started_at) - as_utc(j.created_at)).total_seconds()
            for j in jobs
            if j.started_at
        ]
        running = [
            (as_utc(j.finished_at) - as_utc(j.started_at)).total_seconds()
            for j in jobs
            if j.started_at and j.finished_at
        ]
        attempts = self._attempts([j.id for j in jobs])
        model = [a.execution_ms / 1000 for a in attempts if a.execution_ms is not None]
        waiting = [a.delay_ms / 1000 for a in attempts if a.delay_ms is not None]
        return [
            _times("queue_wait", queued),
            _times("run", running),
            _times("model_execution", model),
            _times("runpod_delay", waiting),
        ]

    def quality_gate(self, start: datetime, end: datetime) -> QualityGate:
        jobs = [j for j in self._jobs(start, end) if j.finished_at is not None and j.quality]
        verdicts = Counter(str((j.quality or {}).get("verdict")) for j in jobs)
        retried = sum(1 for j in jobs if int((j.quality or {}).get("tries", 1)) > 1)
        attempts = self._attempts([j.id for j in jobs])
        extra = sum(a.cost_usd or 0.0 for a in attempts if a.model_try > 1)
        total = sum(a.cost_usd or 0.0 for a in attempts)
        return QualityGate(
            jobs_checked=len(jobs),
            jobs_retried=retried,
            retry_rate=retried / len(jobs) if jobs else None,
            flagged=verdicts["flagged"],
            rejected=verdicts["failed"],
            extra_gpu_cost_usd=round(extra, 6),
            gpu_cost_usd=round(total, 6),
            extra_gpu_share=extra / total if total else None,
        )

    def failure_rates(self, start: datetime, end: datetime) -> FailureRates:
        jobs = [j for j in self._jobs(start, end) if j.finished_at is not None]
        # The quality gate's second try is counted apart (quality_gate).
        per_job = Counter(
            a.job_id for a in self._attempts([j.id for j in jobs]) if a.model_try == 1
        )
        codes = Counter(j.error_code for j in jobs if j.status == "failed" and j.error_code)
        ended = len(jobs)
        retried = sum(1 for n in per_job.values() if n > 1)
        return FailureRates(
            jobs_ended=ended,
            jobs_with_model_retries=retried,
            retry_rate=retried / len(per_job) if per_job else None,
            failure_rate=sum(codes.values()) / ended if ended else None,
            failures_by_code=dict(codes),
            failure_rate_by_code={c: n / ended for c, n in codes.items()},
        )


def _times(stage: str, values: list[float]) -> StageTimes:
    return StageTimes(stage, len(values), percentile(values, 50), percentile(values, 95))
