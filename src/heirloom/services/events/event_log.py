"""The job change feed: events appended with each job change, and the reads streams need."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from heirloom.db.engine import Database
from heirloom.db.models import Job, JobEvent, as_utc, utcnow
from heirloom.domain.jobs import JobStatus
from heirloom.services.events import webhooks

# PostgreSQL: the channel that wakes API processes, and the lock that makes event ids commit
# in order (a reader that has seen id n can never later miss an id below n).
NOTIFY_CHANNEL = "heirloom_job_events"
_APPEND_LOCK = 0x4845_4952_4C4F_4F4D & 0x7FFF_FFFF_FFFF_FFFF
_EVENTS = SQLModel.metadata.tables["job_events"]

QUEUED = "job.queued"
STARTED = "job.started"
UPDATED = "job.updated"
REFUNDED = "job.refunded"
FINAL_TYPES = {
    JobStatus.COMPLETED: "job.completed",
    JobStatus.FAILED: "job.failed",
    JobStatus.CANCELLED: "job.cancelled",
}


@dataclass(frozen=True)
class Event:
    """One change of a job: its feed id, kind, and the job as its owner saw it after it."""

    id: int
    job_id: str
    user_id: str
    type: str
    state: dict[str, Any]

    @property
    def final(self) -> bool:
        return JobStatus(self.state["status"]).is_final


def job_state(job: Job) -> dict[str, Any]:
    """What a stream shows of a job: status, stage, progress, error, result links and what the
    quality gate found."""
    done = job.status == JobStatus.COMPLETED and job.result_key is not None
    base = f"/v1/jobs/{job.id}"
    return {
        "id": job.id,
        "status": job.status,
        "stage": job.stage,
        "progress": job.progress,
        "error": (
            {"code": job.error_code, "message": job.error_message or ""} if job.error_code else None
        ),
        "credits_refunded": job.refunded,
        "result_url": f"{base}/result" if done else None,
        "thumbnail_url": f"{base}/thumbnail" if done else None,
        "comparison_url": f"{base}/comparison" if done else None,
        "finished_at": as_utc(job.finished_at).isoformat() if job.finished_at else None,
        "quality": job.quality,
    }


def append(
    session: Session, job_id: str, event_type: str | None = None, *, job: Job | None = None
) -> None:
    """Record the job's state after a change, in the transaction that made it: one INSERT.

    `job` is the row as the change left it (an UPDATE's RETURNING), read here when not given.
    Without a type, a final status names itself (job.completed, ...) and anything else is
    job.updated. On PostgreSQL the same statement takes the append lock first (a materialized
    CTE, evaluated before the row's id is drawn) and wakes the API processes (pg_notify in
    RETURNING, delivered at commit as NOTIFY is).
    """
    if job is None:
        job = session.get(Job, job_id, populate_existing=True)
        if job is None:
            return
    if event_type is None:
        event_type = FINAL_TYPES.get(JobStatus(job.status), UPDATED)
    values: dict[str, Any] = {
        "job_id": job.id,
        "user_id": job.user_id,
        "type": event_type,
        "state": json.dumps(job_state(job), separators=(",", ":")),
        "created_at": utcnow(),
    }
    # The webhook lookup of a kind a webhook may ask for rides on the same statement.
    wanted = (
        webhooks.subscription_columns(job.user_id) if event_type in webhooks.WEBHOOK_EVENTS else []
    )
    insert: sa.Insert
    if session.get_bind().dialect.name == "postgresql":
        lock = (
            sa.select(sa.func.pg_advisory_xact_lock(_APPEND_LOCK).label("locked"))
            .cte("append_lock")
            .prefix_with("MATERIALIZED")
        )
        source = sa.select(
            *(sa.literal(value, _EVENTS.c[name].type) for name, value in values.items())
        ).select_from(lock)
        insert = (
            sa.insert(_EVENTS)
            .from_select(list(values), source)
            .returning(_EVENTS.c.id, *wanted, sa.func.pg_notify(NOTIFY_CHANNEL, ""))
        )
    else:
        insert = sa.insert(_EVENTS).values(**values).returning(_EVENTS.c.id, *wanted)
    row = session.execute(insert).one()
    found = (
        webhooks.Subscription(exists=bool(row[1]), url=row[2], events=row[3] or "")
        if wanted
        else None
    )
    webhooks.enqueue(session, JobEvent(id=row[0], **values), job.callback_url, found)


def append_state(
    session: Session, *, subject_id: str, user_id: str, event_type: str, state: dict[str, Any]
) -> None:
    """Record an event of something other than one job (an album: `subject_id` is its id,
    `state` what its owner sees), in the transaction that made the change, as `append` does."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPEND_LOCK})
    event = JobEvent(
        job_id=subject_id,
        user_id=user_id,
        type=event_type,
        state=json.dumps(state, separators=(",", ":")),
    )
    session.add(event)
    session.flush()
    webhooks.enqueue(session, event, None)
    if postgres:
        session.execute(sa.text(f"NOTIFY {NOTIFY_CHANNEL}"))


def _event(row: JobEvent) -> Event:
    assert row.id is not None
    return Event(
        id=row.id,
        job_id=row.job_id,
        user_id=row.user_id,
        type=row.type,
        state=json.loads(row.state),
    )


class EventLog:
    """Reads of the change feed: the latest id, what came after an id, a job's snapshot."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def latest_id(self) -> int:
        with self.db.session() as session:
            latest = session.execute(sa.select(sa.func.coalesce(sa.func.max(JobEvent.id), 0)))
            return int(latest.scalar_one())

    def after(self, last_id: int, *, limit: int = 1000) -> list[Event]:
        """Every event after `last_id`, in id order; the feed's one query per interval."""
        with self.db.session() as session:
            rows = session.exec(
                select(JobEvent)
                .where(col(JobEvent.id) > last_id)
                .order_by(col(JobEvent.id))
                .limit(limit)
            )
            return [_event(row) for row in rows]

    def for_job(self, job_id: str, after_id: int) -> list[Event]:
        with self.db.session() as session:
            rows = session.exec(
                select(JobEvent)
                .where(col(JobEvent.job_id) == job_id, col(JobEvent.id) > after_id)
                .order_by(col(JobEvent.id))
            )
            return [_event(row) for row in rows]

    def for_user(self, user_id: str, after_id: int, *, limit: int = 1000) -> list[Event]:
        with self.db.session() as session:
            rows = session.exec(
                select(JobEvent)
                .where(col(JobEvent.user_id) == user_id, col(JobEvent.id) > after_id)
                .order_by(col(JobEvent.id))
                .limit(limit)
            )
            return [_event(row) for row in rows]

    def prune(self, cutoff: datetime, *, batch: int = 5000) -> int:
        """Delete up to `batch` events recorded before `cutoff`, oldest first; how many."""
        with self.db.session() as session:
            oldest = (
                sa.select(col(JobEvent.id))
                .where(col(JobEvent.created_at) < cutoff)
                .order_by(col(JobEvent.id))
                .limit(batch)
                .scalar_subquery()
            )
            result = session.execute(sa.delete(JobEvent).where(col(JobEvent.id).in_(oldest)))
            return int(getattr(result, "rowcount", 0))

    def latest_of_job(self, job_id: str) -> Event | None:
        """The job's latest recorded event, if any."""
        with self.db.session() as session:
            row = session.exec(
                select(JobEvent)
                .where(col(JobEvent.job_id) == job_id)
                .order_by(col(JobEvent.id).desc())
                .limit(1)
            ).first()
            return None if row is None else _event(row)

    def job_snapshot(self, job: Job) -> Event:
        """The job now, under the id of its latest event (0 if it has none yet)."""
        with self.db.session() as session:
            latest = session.execute(
                sa.select(sa.func.coalesce(sa.func.max(JobEvent.id), 0)).where(
                    col(JobEvent.job_id) == job.id
                )
            ).scalar_one()
            # Read after the id: the state may be newer than it, never older.
            fresh = session.get(Job, job.id) or job
            state = job_state(fresh)
        return Event(
            id=int(latest),
            job_id=job.id,
            user_id=job.user_id,
            type="snapshot",
            state=state,
        )
