"""Retention by tier: when a job's files go, deleting them when they are due, and quotas.

Policy on tier changes: an upgrade to a tier that keeps results forever lifts the expiry of
every result still kept; a downgrade never shortens what was promised when a result was made
(existing results keep their expiry, or none), and results made after it follow the new tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, func, select

from heirloom.db.engine import Database
from heirloom.db.models import Job, User, as_utc, utcnow
from heirloom.domain.errors import StorageQuotaExceeded
from heirloom.domain.jobs import JobStatus
from heirloom.domain.tiers import Tier, TierRules
from heirloom.services.storage.base import Storage
from heirloom.services.storage.keys import job_prefix

# Jobs that have ended and still hold files.
_KEPT = (JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value)
# Jobs whose files count against the quota: all that still hold files.
_HOLDING = tuple(s.value for s in JobStatus if s.has_files)


@dataclass(frozen=True)
class StorageUsage:
    """What a user keeps against the tier's quota."""

    bytes_used: int
    results_kept: int
    bytes_limit: int | None
    results_limit: int | None


class Retention:
    """Expiry stamps, the cleanup pass and the storage quota."""

    def __init__(self, db: Database, storage: Storage, tier_rules: dict[Tier, TierRules]) -> None:
        self.db = db
        self.storage = storage
        self.tier_rules = tier_rules

    def days_by_tier(self) -> dict[str, int | None]:
        """How long each tier keeps a job's files (None: for good): what an ending's UPDATE
        looks its owner's tier up in (JobStore.complete's `keep_days_by_tier`)."""
        return {tier.value: rules.storage_days for tier, rules in self.tier_rules.items()}

    def keep_days(self, job_id: str) -> int | None:
        """How long the job's owner's tier keeps its files now (None: for good)."""
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None:
                return None
            user = session.get(User, job.user_id)
            return self.tier_rules[Tier(user.tier if user else job.tier)].storage_days

    def stamp_expiry(self, job_id: str) -> None:
        """Set an ended job's expiry from its owner's current tier, once (repeats keep it)."""
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.expires_at is not None or job.status not in _KEPT:
                return
            user = session.get(User, job.user_id)
            days = self.tier_rules[Tier(user.tier if user else job.tier)].storage_days
            if days is None:
                return
            job.expires_at = as_utc(job.finished_at or utcnow()) + timedelta(days=days)
            session.add(job)

    def on_tier_change(self, user_id: str, tier: Tier) -> int:
        """Apply the policy above; returns how many jobs had their expiry lifted."""
        if self.tier_rules[tier].storage_days is not None:
            return 0
        with self.db.session() as session:
            result = session.execute(
                sa.update(Job)
                .where(
                    col(Job.user_id) == user_id,
                    col(Job.status).in_(_HOLDING),
                    col(Job.expires_at).is_not(None),
                )
                .values(expires_at=None)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def expire_due(self, now: datetime, limit: int) -> int:
        """Delete the files of up to `limit` jobs due at `now` and mark them expired.

        Marking comes first, under the same condition as the query, so an upgrade that lifted
        the expiry in between keeps the files; a pass stopped after marking deletes them on
        its retry or on the next pass: a job's original_key is emptied once its files are gone.
        """
        with self.db.session() as session:
            due = list(
                session.exec(
                    select(Job.id, Job.user_id)
                    .where(
                        sa.or_(
                            sa.and_(col(Job.status).in_(_KEPT), col(Job.expires_at) <= now),
                            # marked by a pass that stopped before deleting
                            sa.and_(
                                col(Job.status) == JobStatus.EXPIRED, col(Job.original_key) != ""
                            ),
                        )
                    )
                    .order_by(col(Job.expires_at))
                    .limit(limit)
                )
            )
        for job_id, user_id in due:
            with self.db.session() as session:
                session.execute(
                    sa.update(Job)
                    .where(
                        col(Job.id) == job_id,
                        col(Job.status).in_(_KEPT),
                        col(Job.expires_at) <= now,
                    )
                    .values(status=JobStatus.EXPIRED.value, updated_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
                status = session.get(Job, job_id)
                expired = status is not None and status.status == JobStatus.EXPIRED
            if expired:
                self.storage.delete_prefix(job_prefix(user_id, job_id))
                self._forget_files(job_id)
        return len(due)

    def _forget_files(self, job_id: str) -> None:
        with self.db.session() as session:
            session.execute(
                sa.update(Job)
                .where(col(Job.id) == job_id)
                .values(
                    original_key="",
                    input_key=None,
                    result_key=None,
                    thumbnail_key=None,
                    comparison_key=None,
                    stored_bytes=0,
                )
                .execution_options(synchronize_session=False)
            )

    def usage(self, user_id: str, tier: Tier) -> StorageUsage:
        with self.db.session() as session:
            used, kept = session.execute(holding(user_id)).one()
        return self.usage_of(tier, int(used), int(kept))

    def usage_of(self, tier: Tier, bytes_used: int, results_kept: int) -> StorageUsage:
        """What `holding` counted, against the tier's quota."""
        rules = self.tier_rules[tier]
        return StorageUsage(
            bytes_used=bytes_used,
            results_kept=results_kept,
            bytes_limit=rules.storage_quota_bytes,
            results_limit=rules.storage_quota_results,
        )

    def check_quota(self, user_id: str, tier: Tier, incoming_bytes: int) -> None:
        """Refuse a submission that would go over the tier's quota; nothing is charged yet."""
        check_usage(self.usage(user_id, tier), incoming_bytes)


def holding(user_id: str | sa.BindParameter[str]) -> sa.Select[int, int]:
    """(bytes, jobs) of the user's jobs that still hold files: what the quota counts."""
    return sa.select(
        func.coalesce(func.sum(Job.stored_bytes), 0).label("bytes_used"),
        func.count(col(Job.id)).label("results_kept"),
    ).where(col(Job.user_id) == user_id, col(Job.status).in_(_HOLDING))


def check_usage(usage: StorageUsage, incoming_bytes: int) -> None:
    """Refuse `incoming_bytes` more when they would go over the quota (StorageQuotaExceeded)."""
    if usage.results_limit is not None and usage.results_kept >= usage.results_limit:
        raise StorageQuotaExceeded(
            f"Your plan keeps at most {usage.results_limit} jobs and you have "
            f"{usage.results_kept}. Delete some jobs or upgrade, then submit again.",
            results_kept=usage.results_kept,
            results_limit=usage.results_limit,
        )
    if usage.bytes_limit is not None and usage.bytes_used + incoming_bytes > usage.bytes_limit:
        raise StorageQuotaExceeded(
            f"Your plan keeps {usage.bytes_limit / 1e6:.0f} MB of photos and you use "
            f"{usage.bytes_used / 1e6:.1f} MB. Delete some jobs or upgrade, then submit again.",
            bytes_used=usage.bytes_used,
            bytes_limit=usage.bytes_limit,
        )
