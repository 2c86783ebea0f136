"""Queue metrics: a snapshot of the GPU queue per tier and priority key, kept for a retention.

Each snapshot joins three sources: the job rows (jobs waiting for a GPU and on one, per tier
and priority), Temporal's statistics of the GPU task queue per priority key, and the RunPod
endpoint's /health counts. A source that does not answer leaves its columns empty; the others
are still recorded.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from heirloom.config import Settings
from heirloom.db.engine import Database
from heirloom.db.models import Job, QueueMetric, as_utc
from heirloom.domain.jobs import JobStatus, Stage
from heirloom.domain.task_queues import GPU_TASK_QUEUE
from heirloom.domain.tiers import Tier
from heirloom.services.queue.task_queues import Backlog, TaskQueueReader, TaskType
from heirloom.services.runpod.client import RunPodService

log = logging.getLogger(__name__)

# One page of the metrics route at most.
MAX_ROWS = 5000


class Sources(Protocol):
    """What a snapshot reads besides Temporal (the process's Services)."""

    settings: Settings
    db: Database
    runpod: RunPodService


@dataclass(frozen=True)
class RunPodCounts:
    """The endpoint's /health: its jobs queued and running, its workers idle and busy."""

    in_queue: int
    in_progress: int
    workers_idle: int
    workers_running: int


@dataclass(frozen=True)
class TierJobs:
    """One tier's jobs at one GPU priority: waiting for a GPU (and the oldest wait), on one."""

    waiting: int = 0
    oldest_wait_s: float | None = None
    on_gpu: int = 0


def runpod_counts(services: Sources) -> RunPodCounts:
    """RunPod's /health as counts (the one call this module makes to the RunPod client)."""
    answer = services.runpod.health()
    jobs = answer.get("jobs") or {}
    workers = answer.get("workers") or {}
    return RunPodCounts(
        in_queue=int(jobs.get("inQueue", 0)),
        in_progress=int(jobs.get("inProgress", 0)),
        workers_idle=int(workers.get("idle", 0)),
        workers_running=int(workers.get("running", 0)),
    )


class QueueMetrics:
    """The queue_metrics table: snapshots written, pruned and read back."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def tier_jobs(self, now: datetime) -> dict[tuple[str, int], TierJobs]:
        """Per (tier, GPU priority): jobs waiting for a GPU, the oldest wait, jobs on a GPU."""
        with self.db.session() as session:
            rows = session.execute(
                sa.select(
                    col(Job.tier),
                    col(Job.gpu_priority),
                    col(Job.stage),
                    sa.func.count(),
                    sa.func.min(col(Job.updated_at)),
                )
                .where(
                    col(Job.status) == JobStatus.RUNNING.value,
                    col(Job.stage).in_([Stage.WAITING_FOR_GPU.value, Stage.PROCESSING.value]),
                )
                .group_by(col(Job.tier), col(Job.gpu_priority), col(Job.stage))
            ).all()
        found: dict[tuple[str, int], TierJobs] = {}
        for tier, priority, stage, count, oldest in rows:
            seen = found.get((tier, priority), TierJobs())
            if stage == Stage.WAITING_FOR_GPU.value:
                wait = (now - as_utc(oldest)).total_seconds()
                seen = TierJobs(int(count), max(0.0, wait), seen.on_gpu)
            else:
                seen = TierJobs(seen.waiting, seen.oldest_wait_s, int(count))
            found[(tier, priority)] = seen
        return found

    def in_flight(self) -> tuple[int, int]:
        """Model steps holding a GPU slot now, and how many of them have a RunPod job."""
        with self.db.session() as session:
            on_gpu, with_runpod = session.execute(
                sa.select(sa.func.count(), sa.func.count(col(Job.runpod_job_id))).where(
                    col(Job.status) == JobStatus.RUNNING.value,
                    col(Job.stage) == Stage.PROCESSING.value,
                )
            ).one()
        return int(on_gpu), int(with_runpod)

    def record(self, rows: list[QueueMetric]) -> int:
        """Write one snapshot's rows at once; a snapshot already written (a retry) stays as is."""
        with self.db.session() as session:
            session.add_all(rows)
            try:
                session.flush()
            except IntegrityError:
                session.rollback()
                return 0
        return len(rows)

    def prune(self, cutoff: datetime) -> int:
        """Delete snapshots taken before `cutoff`; how many rows went."""
        with self.db.session() as session:
            result = session.execute(
                sa.delete(QueueMetric).where(col(QueueMetric.taken_at) < cutoff)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def between(
        self, since: datetime, until: datetime | None, *, limit: int = MAX_ROWS
    ) -> list[QueueMetric]:
        """Rows taken in [since, until), oldest first, by tier then priority within one."""
        query = select(QueueMetric).where(col(QueueMetric.taken_at) >= since)
        if until is not None:
            query = query.where(col(QueueMetric.taken_at) < until)
        query = query.order_by(
            col(QueueMetric.taken_at), col(QueueMetric.tier), col(QueueMetric.priority_key)
        ).limit(limit)
        with self.db.session() as session:
            return list(session.exec(query))


async def take_snapshot(
    services: Sources, temporal: TaskQueueReader, taken_at: datetime
) -> list[QueueMetric]:
    """The rows of one snapshot: each tier at its own GPU priority, and at any other priority
    (retries) its jobs are at now."""
    metrics = QueueMetrics(services.db)
    jobs = await asyncio.to_thread(metrics.tier_jobs, taken_at)
    by_priority = await _gpu_backlog(temporal)
    runpod = await _runpod(services)
    keys = {(tier.value, services.settings.tier_rules[tier].gpu_priority) for tier in Tier}
    keys |= set(jobs)
    rows = []
    for tier, priority in sorted(keys):
        seen = jobs.get((tier, priority), TierJobs())
        backlog = None if by_priority is None else by_priority.get(priority, _EMPTY)
        rows.append(
            QueueMetric(
                taken_at=taken_at,
                tier=tier,
                priority_key=priority,
                waiting=seen.waiting,
                oldest_wait_s=seen.oldest_wait_s,
                on_gpu=seen.on_gpu,
                queue_backlog=None if backlog is None else backlog.count,
                queue_backlog_age_s=None if backlog is None else backlog.age_s,
                queue_add_rate=None if backlog is None else backlog.add_rate,
                queue_dispatch_rate=None if backlog is None else backlog.dispatch_rate,
                runpod_in_queue=None if runpod is None else runpod.in_queue,
                runpod_in_progress=None if runpod is None else runpod.in_progress,
                runpod_workers_idle=None if runpod is None else runpod.workers_idle,
                runpod_workers_running=None if runpod is None else runpod.workers_running,
            )
        )
    return rows


_EMPTY = Backlog(count=0, age_s=0.0, add_rate=0.0, dispatch_rate=0.0)


async def _gpu_backlog(temporal: TaskQueueReader) -> dict[int, Backlog] | None:
    try:
        state = await temporal.describe(GPU_TASK_QUEUE, TaskType.ACTIVITY)
    except Exception:
        log.warning("queue metrics: Temporal did not describe %s", GPU_TASK_QUEUE, exc_info=True)
        return None
    return state.by_priority


async def _runpod(services: Sources) -> RunPodCounts | None:
    try:
        return await asyncio.to_thread(runpod_counts, services)
    except Exception:
        log.warning("queue metrics: RunPod /health failed", exc_info=True)
        return None
