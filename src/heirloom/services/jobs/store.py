"""JobStore: reads and state changes of job rows (charging lives in CreditManager)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import col, select

from heirloom.db.engine import Database
from heirloom.db.models import Job, User, as_utc, utcnow
from heirloom.db.paging import Page, SortKey, keyset, page_of
from heirloom.domain.errors import NotFound
from heirloom.domain.jobs import JobStatus, Stage
from heirloom.domain.paging import Cursor
from heirloom.services.events import event_log as events

# The order of a user's job list: newest first, ties by id (the offset form uses it too).
JOB_ORDER = SortKey(id=col(Job.id), at=col(Job.created_at))


@dataclass(frozen=True)
class ResultKeys:
    """Where a completed job's files are."""

    input_key: str
    result_key: str
    thumbnail_key: str
    comparison_key: str
    width: int
    height: int
    stored_bytes: int = 0


class JobStore:
    """Job rows: owner-scoped reads for the API, one-statement updates for activities."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, job_id: str) -> Job:
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise NotFound()
            return job

    def get_owned(self, user_id: str, job_id: str) -> Job:
        """A job as its owner sees it; anyone else gets NotFound, never a hint it exists."""
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.user_id != user_id:
                raise NotFound()
            return job

    def find(self, job_id: str) -> Job | None:
        with self.db.session() as session:
            return session.get(Job, job_id)

    def list_owned(
        self, user_id: str, *, limit: int = 50, offset: int = 0, status: str | None = None
    ) -> list[Job]:
        """The user's jobs, newest first; only those in `status` when given."""
        with self.db.session() as session:
            statement = select(Job).where(Job.user_id == user_id)
            if status is not None:
                statement = statement.where(Job.status == status)
            statement = (
                statement.order_by(col(Job.created_at).desc(), col(Job.id))
                .offset(offset)
                .limit(limit)
            )
            return list(session.exec(statement))

    def page_owned(
        self, user_id: str, *, limit: int, after: Cursor | None, status: str | None = None
    ) -> Page[Job]:
        """The user's jobs, newest first (ties by id), starting after `after`."""
        statement = select(Job).where(Job.user_id == user_id)
        if status is not None:
            statement = statement.where(Job.status == status)
        statement = keyset(statement, JOB_ORDER, after, limit)
        with self.db.session() as session:
            rows = list(session.exec(statement))
        return page_of(rows, limit, lambda job: Cursor(job.id, as_utc(job.created_at)))

    def set_stage(
        self,
        job_id: str,
        stage: Stage,
        *,
        progress: int | None = None,
        runpod_job_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Mark a job running at `stage` (recording its RunPod job, merging `metadata` into its
        photo metadata as `set_metadata` does, in the same statement); never moves a finished
        job."""
        now = utcnow()
        values: dict[str, Any] = {
            "status": JobStatus.RUNNING.value,
            "stage": stage.value,
            "progress": _no_lower(stage.progress if progress is None else progress),
            "updated_at": now,
            "started_at": sa.func.coalesce(Job.started_at, now),
        }
        if runpod_job_id is not None:
            values["runpod_job_id"] = runpod_job_id
        if metadata:
            values["photo_metadata"] = _merged_metadata(self.db.engine.dialect.name, metadata)
        # job.started when this write starts the job (the SET reads the row before it).
        started = sa.case((col(Job.started_at).is_(None), events.STARTED), else_=events.UPDATED)
        self._update_unfinished(job_id, values, started, webhook=True)

    def set_model(self, job_id: str, model: str, provenance: dict[str, Any] | None = None) -> None:
        """Record what made the job's model output (the handler's label, cut to the column,
        and its fields: domain/provenance.py), in one statement."""
        values: dict[str, Any] = {"model": model[:300], "updated_at": utcnow()}
        if provenance is not None:
            values["provenance"] = provenance
        self._update_unfinished(job_id, values, events.UPDATED)

    def set_progress(self, job_id: str, progress: int) -> None:
        """Raise a job's progress; a lower figure (a late or retried report) changes nothing."""
        self._update_unfinished(
            job_id,
            {"progress": progress, "updated_at": utcnow()},
            events.UPDATED,
            only_if=col(Job.progress) < progress,
        )

    def complete(
        self,
        job_id: str,
        keys: ResultKeys,
        *,
        keep_days: int | None = None,
        keep_days_by_tier: Mapping[str, int | None] | None = None,
        quality: dict[str, Any] | None = None,
        candidates: list[dict[str, Any]] | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> bool:
        """Mark a job completed with its files; a job already refunded can never complete.

        `keep_days` stamps its expiry in the same write, so no reader sees a completed free
        job without one; `keep_days_by_tier` instead stamps it from the owner's tier as the
        same statement reads it (no read before the write); `quality` is what the quality
        gate found; `candidates` the files of each candidate, the first one the result until
        the owner chooses; `provenance` what made the kept output. Returns whether this call
        ended the job.
        """
        now = utcnow()
        chosen = (
            {"candidate_results": candidates, "chosen_candidate": candidates[0]["candidate"]}
            if candidates
            else {}
        )
        return self._update_unfinished(
            job_id,
            {
                **_expiry(now, keep_days, keep_days_by_tier),
                **({"quality": quality} if quality is not None else {}),
                **({"provenance": provenance} if provenance is not None else {}),
                **chosen,
                "status": JobStatus.COMPLETED.value,
                "stage": Stage.DONE.value,
                "progress": 100,
                "input_key": keys.input_key,
                "result_key": keys.result_key,
                "thumbnail_key": keys.thumbnail_key,
                "comparison_key": keys.comparison_key,
                "width": keys.width,
                "height": keys.height,
                "stored_bytes": Job.stored_bytes + keys.stored_bytes,
                "finished_at": now,
                "updated_at": now,
            },
            events.FINAL_TYPES[JobStatus.COMPLETED],
            only_if=col(Job.refunded) == 0,
            webhook=True,
        )

    def finish_unsuccessfully(
        self,
        job_id: str,
        status: JobStatus,
        *,
        code: str,
        message: str,
        detail: str = "",
        ended_by: str = "",
        keep_days: int | None = None,
        keep_days_by_tier: Mapping[str, int | None] | None = None,
        quality: dict[str, Any] | None = None,
    ) -> bool:
        """End a job as failed or cancelled: a message a person understands, and for
        operators the detail (provider wording, statuses) and who ended it; `keep_days` and
        the answer as for `complete`."""
        assert status in (JobStatus.FAILED, JobStatus.CANCELLED)
        now = utcnow()
        return self._update_unfinished(
            job_id,
            {
                **_expiry(now, keep_days, keep_days_by_tier),
                **({"quality": quality} if quality is not None else {}),
                "status": status.value,
                "stage": Stage.DONE.value,
                "error_code": code,
                "error_message": message[:500],
                "error_detail": detail[:1000] or None,
                "ended_by": ended_by or None,
                "finished_at": now,
                "updated_at": now,
            },
            events.FINAL_TYPES[status],
            webhook=True,
        )

    def unfinished_before(
        self, cutoff: datetime, *, after_id: str = "", limit: int = 100
    ) -> list[Job]:
        """Unfinished jobs unchanged since `cutoff`, a page at a time in id order.

        Served by ix_jobs_status_updated: cheap when nothing is stranded.
        """
        unfinished = [s.value for s in JobStatus if not s.is_final]
        with self.db.session() as session:
            statement = (
                select(Job)
                .where(col(Job.status).in_(unfinished), col(Job.updated_at) < cutoff)
                .where(col(Job.id) > after_id)
                .order_by(col(Job.id))
                .limit(limit)
            )
            return list(session.exec(statement))

    def _update_unfinished(
        self,
        job_id: str,
        values: dict[str, Any],
        event_type: str | sa.ColumnElement[str],
        only_if: sa.ColumnElement[bool] | None = None,
        *,
        webhook: bool = False,
    ) -> bool:
        """Change an unfinished job; a change that applied appends its event of `event_type`
        to the change feed (`Job.last_event`), in the same statement. Returns whether it
        applied. `webhook`: the kind may be one a webhook asks for."""
        finished = [s.value for s in JobStatus if s.is_final]
        with self.db.session() as session:
            row = session.execute(
                sa.update(Job)
                .where(col(Job.id) == job_id, col(Job.status).not_in(finished))
                .where(only_if if only_if is not None else sa.true())
                .values(**values, last_event=event_type)
                .returning(*events.feed_columns(webhook=webhook))
                .execution_options(synchronize_session=False)
            ).one_or_none()
            if row is None:
                return False
            events.owe_webhooks(session, row)
        return True

    def set_metadata(
        self, job_id: str, metadata: dict[str, Any], original_bytes: int = 0
    ) -> Job | None:
        """Merge fields into the job's photo metadata and count `original_bytes` against the
        quota; returns the job as the write left it (None if there is none). The API writes
        the header's fields and the worker the colour check, in either order: each keeps the
        other's fields (merged by the UPDATE itself, under the row's lock: one statement)."""
        with self.db.session() as session:
            return session.scalars(
                sa.update(Job)
                .where(col(Job.id) == job_id)
                .values(
                    stored_bytes=Job.stored_bytes + original_bytes,
                    photo_metadata=_merged_metadata(self.db.engine.dialect.name, metadata),
                )
                .returning(Job)
                .execution_options(synchronize_session=False, populate_existing=True)
            ).one_or_none()

    def mark_deleted(self, job_id: str) -> None:
        """An ended job whose files are gone by its owner's request; its ledger rows stay."""
        finished = [s.value for s in JobStatus if s.is_final]
        with self.db.session() as session:
            session.execute(
                sa.update(Job)
                .where(col(Job.id) == job_id, col(Job.status).in_(finished))
                .values(
                    status=JobStatus.DELETED.value,
                    original_key="",
                    input_key=None,
                    result_key=None,
                    thumbnail_key=None,
                    comparison_key=None,
                    stored_bytes=0,
                    expires_at=None,
                    updated_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )


def _merged_metadata(dialect: str, patch: dict[str, Any]) -> sa.ColumnElement[Any]:
    """The stored photo metadata (an object, or none) with `patch`'s fields set over it: a
    shallow merge, evaluated by the database on the row it updates."""
    stored = col(Job.photo_metadata)
    if dialect == "postgresql":
        base = sa.case(
            (sa.func.json_typeof(stored) == "object", sa.cast(stored, JSONB)),
            else_=sa.literal_column("'{}'::jsonb"),
        )
        merged = base.op("||")(sa.cast(sa.literal(json.dumps(patch)), JSONB))
        return sa.cast(merged, sa.JSON)
    base = sa.case((sa.func.json_type(stored) == "object", stored), else_=sa.literal_column("'{}'"))
    paths: list[Any] = []
    for key, value in patch.items():
        paths += [sa.literal(f'$."{key}"'), sa.func.json(sa.literal(json.dumps(value)))]
    return sa.func.json_set(base, *paths, type_=sa.JSON)


def _no_lower(progress: int) -> sa.ColumnElement[int]:
    """The larger of the stored progress and `progress`: a job's progress never goes back."""
    return sa.case((col(Job.progress) > progress, col(Job.progress)), else_=progress)


def _expiry(
    now: datetime, keep_days: int | None, by_tier: Mapping[str, int | None] | None = None
) -> dict[str, Any]:
    """The expiry column of an ending, when the owner's tier keeps results for a time: from
    `keep_days`, or from `by_tier` over the owner's tier now (the job's own when the owner is
    gone), looked up by the ending's own UPDATE."""
    if by_tier is not None:
        owner_tier = sa.func.coalesce(
            sa.select(col(User.tier)).where(col(User.id) == col(Job.user_id)).scalar_subquery(),
            col(Job.tier),
        )
        kept = [
            (owner_tier == tier, sa.literal(now + timedelta(days=days), sa.DateTime(timezone=True)))
            for tier, days in by_tier.items()
            if days is not None
        ]
        return {"expires_at": sa.case(*kept, else_=sa.null()) if kept else sa.null()}
    return {} if keep_days is None else {"expires_at": now + timedelta(days=keep_days)}
