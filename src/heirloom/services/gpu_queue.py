"""Where a job stands in the GPU queue, and when it may start and finish, from live state.

Reads the job rows: jobs whose stage is `waiting_for_gpu` wait in Temporal's GPU task queue;
`processing` ones hold a GPU slot. The order follows domain/gpu_queue.py's model of Temporal's
dispatch (priority, then fair across users); times come from recent jobs' model-step durations
and the pool size.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from heirloom.db.engine import Database
from heirloom.db.models import Job, as_utc
from heirloom.domain.gpu_queue import Waiting, position_in_queue
from heirloom.domain.jobs import JobStatus, Stage

# How many recent completed jobs the model-time estimate is taken from.
_RECENT_JOBS = 50


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


class GpuQueue:
    """Queue positions and wait estimates for the API, from the job rows."""

    def __init__(self, db: Database, *, pool_size: int, default_model_s: float) -> None:
        self.db = db
        self.pool_size = pool_size
        self.default_model_s = default_model_s

    def place(self, job: Job, now: datetime) -> QueuePlace | None:
        """The job's place while it waits for a GPU; None once it has one or has ended."""
        if job.stage != Stage.WAITING_FOR_GPU or JobStatus(job.status).is_final:
            return None
        with self.db.session() as session:
            rows = session.exec(
                select(Job.id, Job.user_id, Job.gpu_priority, Job.updated_at).where(
                    col(Job.stage) == Stage.WAITING_FOR_GPU.value,
                    col(Job.status) == JobStatus.RUNNING.value,
                    col(Job.gpu_priority) <= job.gpu_priority,
                )
            ).all()
            on_gpu = self._on_gpu(session)
            model_s = self._model_seconds(session)
        waiting = [
            Waiting(job_id, user_id, priority, as_utc(since).timestamp())
            for job_id, user_id, priority, since in rows
        ]
        me = Waiting(job.id, job.user_id, job.gpu_priority, as_utc(job.updated_at).timestamp())
        position = position_in_queue(me, waiting)
        # Jobs on the GPUs are half done on average; each full round of the pool takes a
        # model time.
        busy = model_s / 2 if on_gpu >= self.pool_size else 0.0
        start = now + timedelta(seconds=busy + model_s * (position // self.pool_size))
        return QueuePlace(position, start, start + timedelta(seconds=model_s))

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
        result = []
        for tier in sorted(found):
            stages = found[tier]
            waiting = stages.get(Stage.WAITING_FOR_GPU.value)
            result.append(
                TierQueue(
                    tier=tier,
                    waiting=waiting[0] if waiting else 0,
                    on_gpu=stages.get(Stage.PROCESSING.value, (0, now))[0],
                    oldest_wait_s=(now - waiting[1]).total_seconds() if waiting else None,
                )
            )
        return result

    def _on_gpu(self, session: Session) -> int:
        return int(
            session.exec(
                select(func.count()).where(
                    col(Job.stage) == Stage.PROCESSING.value,
                    col(Job.status) == JobStatus.RUNNING.value,
                )
            ).one()
        )

    def _model_seconds(self, session: Session) -> float:
        """The median run time of recent completed jobs (an upper bound of the model step)."""
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
        if not spans:
            return self.default_model_s
        return max(math.ulp(1.0), statistics.median(spans))
