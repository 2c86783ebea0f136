"""The job change feed: events appended with each job change, and the reads streams need."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from heirloom.db.engine import Database
from heirloom.db.models import Job, JobEvent, as_utc
from heirloom.domain.jobs import JobStatus
from heirloom.services.events import webhooks

# PostgreSQL: the channel that wakes API processes, and the lock that makes event ids commit
# in order (a reader that has seen id n can never later miss an id below n). A job's events
# are appended by its own write (migration 0019's triggers, which use both); an album's here.
NOTIFY_CHANNEL = "heirloom_job_events"
_APPEND_LOCK = 0x4845_4952_4C4F_4F4D & 0x7FFF_FFFF_FFFF_FFFF

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
    quality gate found. A job's own write records it in SQL (migration 0019): change both."""
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


def feed_columns(*, webhook: bool) -> list[Any]:
    """What a job write that sets `Job.last_event` returns (its RETURNING), for
    `owe_webhooks`: the job's id, owner, callback and the event's kind, and when the kind may
    be one a webhook asks for, the owner's webhook subscription, looked up by the same
    statement."""
    columns: list[Any] = [col(Job.id), col(Job.user_id), col(Job.callback_url), col(Job.last_event)]
    if webhook:
        # Named with its table: SQLite's RETURNING drops the table from column names, and a
        # bare user_id in the subquery would be the webhook's own (every user's endpoint).
        owner = sa.literal_column(f"{Job.__tablename__}.user_id", sa.String)
        columns += webhooks.subscription_columns(owner)
    return columns


def owe_webhooks(session: Session, row: sa.Row[Any]) -> None:
    """After a job write that appended its event (`row`: its `feed_columns`), owe the event to
    the owner's webhook and the job's callback, in the same transaction. The event's id is
    read only then: the job's row lock, held since the write, keeps its latest event ours."""
    fields = row._mapping
    event_type = fields["last_event"]
    if event_type not in webhooks.WEBHOOK_EVENTS or not fields.get("webhook_exists"):
        return
    event_id = session.execute(
        sa.select(sa.func.max(col(JobEvent.id))).where(col(JobEvent.job_id) == fields["id"])
    ).scalar_one()
    event = JobEvent(
        id=event_id, job_id=fields["id"], user_id=fields["user_id"], type=event_type, state=""
    )
    found = webhooks.Subscription(
        exists=True, url=fields["webhook_url"], events=fields["webhook_events"] or ""
    )
    webhooks.enqueue(session, event, fields["callback_url"], found)


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
