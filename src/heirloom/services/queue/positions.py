"""Where a job stands in the GPU queue, and when it may start and finish, from live state.

Reads the job rows: jobs whose stage is `waiting_for_gpu` wait in Temporal's GPU task queue;
`processing` ones hold a GPU slot. The order follows domain/gpu_queue.py's model of Temporal's
dispatch (priority, then fair across users); times come from recent jobs' model-step durations
and the pool size. Past waits come from the change feed: a job's first `waiting_for_gpu` event
to its first `processing` one.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from heirloom.db.engine import Database
from heirloom.db.models import Job, JobEvent, as_utc
from heirloom.domain.jobs import JobStatus, Stage

# How many recent completed jobs the model-time estimate is taken from.
_RECENT_JOBS = 50
# Past waits: over the last hour, from at most this many of the most recently changed jobs,
# computed at most once per interval per process (any key may ask for the queue).
WAIT_WINDOW = timedelta(hours=1)
_WAIT_SAMPLE = 500
_WAIT_CACHE_S = 10.0
# The model-time estimate changes as jobs complete, slowly: read it at most this often.
_MODEL_TIME_CACHE_S = 10.0
# How a stage reads in an event's JSON state (services/events/event_log.py writes it compact).
_WAITING_LIKE = f'%"stage":"{Stage.WAITING_FOR_GPU.value}"%'
_PROCESSING_LIKE = f'%"stage":"{Stage.PROCESSING.value}"%'


@dataclass(frozen=True)
class QueuePlace:
    """A waiting job's place: jobs ahead of it, and when it should start and finish."""

    position: int
    estimated_start_at: datetime
    estimated_finish_at: datetime


@dataclass(frozen=True)
class TierQueue:
    """One tier's jobs in the GPU queue."""

    tier: str
    waiting: int
    on_gpu: int
    oldest_wait_s: float | None
    p50_wait_s: float | None


class GpuQueue:
    """Queue positions and wait estimates for the API, from the job rows."""

    def __init__(self, db: Database, *, pool_size: int, default_model_s: float) -> None:
        self.db = db
        self.pool_size = pool_size
        self.default_model_s = default_model_s
        self._waits: tuple[float, dict[str, float]] | None = None
        self._model_s: tuple[float, float] | None = None

    def place(self, job: Job, now: datetime) -> QueuePlace | None:
        """The job's place while it waits for a GPU; None once it has one or has ended.

        One statement counts the jobs ahead (domain/gpu_queue.py's order as SQL conditions on
        ix_jobs_stage_priority) and the jobs on a GPU; no waiting row is read into Python.
        """
        if job.stage != Stage.WAITING_FOR_GPU or JobStatus(job.status).is_final:
            return None
        with self.db.session() as session:
            position, on_gpu = session.execute(
                _PLACE,
                {
                    "priority": job.gpu_priority,
                    "user_id": job.user_id,
                    "since": job.updated_at,
                    "job_id": job.id,
                },
            ).one()
            model_s = self._model_seconds(session)
        # Jobs on the GPUs are half done on average; each full round of the pool takes a
        # model time.
        busy = model_s / 2 if on_gpu >= self.pool_size else 0.0
        start = now + timedelta(seconds=busy + model_s * (int(position) // self.pool_size))
        return QueuePlace(int(position), start, start + timedelta(seconds=model_s))

    def tiers(self, now: datetime) -> list[TierQueue]:
        """Per tier: jobs waiting, jobs on a GPU, and how long the oldest has waited."""
        with self.db.session() as session:
            rows = session.exec(
                select(Job.tier, Job.stage, func.count(), func.min(Job.updated_at))
                .where(
                    col(Job.status) == JobStatus.RUNNING.value,
                    col(Job.stage).in_([Stage.WAITING_FOR_GPU.value, Stage.PROCESSING.value]),
                )
                .group_by(col(Job.tier), col(Job.stage))
            ).all()
        found: dict[str, dict[str, tuple[int, datetime]]] = {}
        for tier, stage, count, oldest in rows:
            found.setdefault(tier, {})[stage] = (int(count), as_utc(oldest))
        p50 = self.p50_waits(now)
        result = []
        for tier in sorted(set(found) | set(p50)):
            stages = found.get(tier, {})
            waiting = stages.get(Stage.WAITING_FOR_GPU.value)
            result.append(
                TierQueue(
                    tier=tier,
                    waiting=waiting[0] if waiting else 0,
                    on_gpu=stages.get(Stage.PROCESSING.value, (0, now))[0],
                    oldest_wait_s=(now - waiting[1]).total_seconds() if waiting else None,
                    p50_wait_s=p50.get(tier),
                )
            )
        return result

    def p50_waits(self, now: datetime) -> dict[str, float]:
        """Per tier, the median wait for a GPU of jobs whose model step started in the last
        hour (cached for a few seconds)."""
        cached = self._waits
        if cached is not None and time.monotonic() - cached[0] < _WAIT_CACHE_S:
            return cached[1]
        waits = self._recent_waits(now - WAIT_WINDOW)
        medians = {tier: statistics.median(values) for tier, values in waits.items()}
        self._waits = (time.monotonic(), medians)
        return medians

    def _recent_waits(self, since: datetime) -> dict[str, list[float]]:
        # A job whose model step started since `since` has changed since then too.
        statuses = [s.value for s in JobStatus if s is not JobStatus.QUEUED]
        with self.db.session() as session:
            jobs = dict(
                session.exec(
                    select(Job.id, Job.tier)
                    .where(col(Job.status).in_(statuses), col(Job.updated_at) >= since)
                    .order_by(col(Job.updated_at).desc())
                    .limit(_WAIT_SAMPLE)
                ).all()
            )
            began = _first_events(session, list(jobs), _WAITING_LIKE)
            started = _first_events(session, list(jobs), _PROCESSING_LIKE)
        waits: dict[str, list[float]] = {}
        for job_id, start in started.items():
            if job_id in began and start >= since and start >= began[job_id]:
                wait = (start - began[job_id]).total_seconds()
                waits.setdefault(jobs[job_id], []).append(wait)
        return waits

    def _model_seconds(self, session: Session) -> float:
        """The median run time of recent completed jobs (an upper bound of the model step),
        read at most once per _MODEL_TIME_CACHE_S: every waiting job's GET asks for it."""
        cached = self._model_s
        if cached is not None and time.monotonic() - cached[0] < _MODEL_TIME_CACHE_S:
            return cached[1]
        rows = session.exec(
            select(Job.started_at, Job.finished_at)
            .where(col(Job.status) == JobStatus.COMPLETED.value)
            .order_by(col(Job.finished_at).desc())
            .limit(_RECENT_JOBS)
        ).all()
        spans = [
            (as_utc(end) - as_utc(start)).total_seconds()
            for start, end in rows
            if start is not None and end is not None
        ]
        model_s = max(math.ulp(1.0), statistics.median(spans)) if spans else self.default_model_s
        self._model_s = (time.monotonic(), model_s)
        return model_s


def _place_statement() -> sa.Select[int, int]:
    """(jobs dispatched before the job, jobs on a GPU), as `position_in_queue` counts them:
    every waiting job of a higher priority; at the job's own priority, its owner's earlier
    jobs (turn k = those + 1), and of each other user at most k jobs (fair turns). Built once;
    the job is its parameters: priority, user_id, since (its updated_at) and job_id."""
    priority = sa.bindparam("priority", type_=sa.Integer)
    user_id = sa.bindparam("user_id", type_=sa.String)
    since = sa.bindparam("since", type_=sa.DateTime(timezone=True))
    waiting = sa.and_(
        col(Job.stage) == Stage.WAITING_FOR_GPU.value,
        col(Job.status) == JobStatus.RUNNING.value,
    )
    same_priority = sa.and_(waiting, col(Job.gpu_priority) == priority)
    higher = sa.select(sa.func.count()).where(waiting, col(Job.gpu_priority) < priority)
    # The job's turn among its owner's jobs (k: its k-1 earlier ones go first), read once.
    mine = (
        sa.select((sa.func.count() + 1).label("turn"))
        .where(
            same_priority,
            col(Job.user_id) == user_id,
            sa.or_(
                col(Job.updated_at) < since,
                sa.and_(col(Job.updated_at) == since, col(Job.id) < sa.bindparam("job_id")),
            ),
        )
        .subquery()
    )
    others = (
        sa.select(sa.func.count().label("waiting"))
        .where(same_priority, col(Job.user_id) != user_id)
        .group_by(col(Job.user_id))
        .subquery()
    )
    turns = sa.select(
        sa.func.coalesce(
            sa.func.sum(
                sa.case((others.c.waiting < mine.c.turn, others.c.waiting), else_=mine.c.turn)
            ),
            0,
        )
    )
    on_gpu = sa.select(sa.func.count()).where(
        col(Job.stage) == Stage.PROCESSING.value,
        col(Job.status) == JobStatus.RUNNING.value,
    )
    return sa.select(
        higher.scalar_subquery() + mine.c.turn - 1 + turns.scalar_subquery(),
        on_gpu.scalar_subquery(),
    ).select_from(mine)


_PLACE = _place_statement()


def _first_events(session: Session, job_ids: list[str], state_like: str) -> dict[str, datetime]:
    """Per job, when its first change-feed event whose state matches `state_like` was made."""
    rows = session.execute(
        sa.select(col(JobEvent.job_id), sa.func.min(col(JobEvent.created_at)))
        .where(col(JobEvent.job_id).in_(job_ids), col(JobEvent.state).like(state_like))
        .group_by(col(JobEvent.job_id))
    ).all()
    return {job_id: as_utc(first) for job_id, first in rows}
