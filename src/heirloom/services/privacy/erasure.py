"""Closing an account: every step idempotent, so the erasure workflow can repeat any of them.

What stays, anonymised: the user row (id, tier, balance: the ledger's foreign key) with its
email replaced (its keys are deleted), the ledger's amounts and kinds (grant reasons, written
by operators, are replaced), and the audit rows without address or client. Everything else
goes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select

from heirloom.db.engine import Database
from heirloom.db.models import (
    Album,
    ApiKey,
    AuditEntry,
    CreditEntry,
    DataExport,
    ErasedUser,
    Job,
    JobEvent,
    ModelAttempt,
    Share,
    StreamToken,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    as_utc,
)
from heirloom.domain.jobs import JobStatus
from heirloom.services.storage.base import Storage
from heirloom.services.storage.keys import job_prefix

ROLE_ERASED = "erased"


def user_prefix(user_id: str) -> str:
    """The storage prefix holding every file of one user."""
    return f"users/{user_id}/"


class Erasure:
    """The steps of an account's erasure over the database and storage."""

    def __init__(self, db: Database, storage: Storage) -> None:
        self.db = db
        self.storage = storage

    def close_account(self, user_id: str) -> bool:
        """Lock the account out at once (no key matches) and drop its email; False if unknown."""
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                return False
            if user.role != ROLE_ERASED:
                user.role = ROLE_ERASED
                user.email = f"erased-{user_id}@erased.invalid"
                session.add(user)
                # Every key goes with the account: it answers 401 from this commit on.
                session.execute(sa.delete(ApiKey).where(col(ApiKey.user_id) == user_id))
            return True

    def job_ids(self, user_id: str, *, unfinished_only: bool = False) -> list[str]:
        statement = select(Job.id).where(Job.user_id == user_id)
        if unfinished_only:
            statement = statement.where(
                col(Job.status).in_([s.value for s in JobStatus if not s.is_final])
            )
        with self.db.session() as session:
            return list(session.exec(statement.order_by(col(Job.id))))

    def delete_files(
        self, user_id: str, progress: Callable[[int], None] = lambda _deleted: None
    ) -> int:
        """Delete the user's files one job at a time, calling `progress` with the count after
        each, then whatever else is under the prefix (exports); returns how many."""
        deleted = 0
        for job_id in self.job_ids(user_id):
            deleted += self.storage.delete_prefix(job_prefix(user_id, job_id))
            progress(deleted)
        return deleted + self.storage.delete_prefix(user_prefix(user_id))

    def anonymise_records(self, user_id: str) -> None:
        """Remove shares, albums, jobs and everything of them, webhooks, stream tokens and
        exports; keep the ledger and the audit trail without personal fields."""
        jobs = sa.select(col(Job.id)).where(col(Job.user_id) == user_id).scalar_subquery()
        with self.db.session() as session:
            session.execute(sa.delete(Share).where(col(Share.user_id) == user_id))
            session.execute(sa.delete(ModelAttempt).where(col(ModelAttempt.job_id).in_(jobs)))
            session.execute(sa.delete(JobEvent).where(col(JobEvent.user_id) == user_id))
            session.execute(
                sa.delete(WebhookDelivery).where(col(WebhookDelivery.user_id) == user_id)
            )
            session.execute(
                sa.delete(WebhookEndpoint).where(col(WebhookEndpoint.user_id) == user_id)
            )
            session.execute(sa.delete(StreamToken).where(col(StreamToken.user_id) == user_id))
            session.execute(sa.delete(DataExport).where(col(DataExport.user_id) == user_id))
            # Albums and their share links; an album still running finds its row gone and
            # writes no ZIP (services/albums/).
            session.execute(sa.delete(Album).where(col(Album.user_id) == user_id))
            session.execute(sa.delete(Job).where(col(Job.user_id) == user_id))
            session.execute(
                sa.update(CreditEntry)
                .where(col(CreditEntry.user_id) == user_id, col(CreditEntry.kind) == "grant")
                .values(reason="grant")
                .execution_options(synchronize_session=False)
            )
            session.execute(
                sa.update(AuditEntry)
                .where(col(AuditEntry.owner_id) == user_id)
                .values(ip=None, user_agent=None)
                .execution_options(synchronize_session=False)
            )

    def log_erased(self, user_id: str) -> None:
        """Record that `user_id`'s erasure finished (the erasure log); repeating keeps the first
        time."""
        with self.db.session() as session:
            if session.get(ErasedUser, user_id) is None:
                session.add(ErasedUser(user_id=user_id))

    def logged(self) -> list[tuple[str, datetime]]:
        """The whole erasure log, (user id, erased at), oldest first: `heirloom erasures
        export` writes it as the CSV restore.sh takes when the database itself was lost."""
        statement = select(ErasedUser).order_by(col(ErasedUser.erased_at), col(ErasedUser.user_id))
        with self.db.session() as session:
            return [(row.user_id, as_utc(row.erased_at)) for row in session.exec(statement)]

    def erased_since(self, since: datetime) -> list[str]:
        """The users whose erasure the log records after `since`, oldest first."""
        statement = (
            select(ErasedUser.user_id)
            .where(col(ErasedUser.erased_at) > since)
            .order_by(col(ErasedUser.erased_at), col(ErasedUser.user_id))
        )
        with self.db.session() as session:
            return list(session.exec(statement))

    def reapply_since(self, since: datetime) -> list[str]:
        """Erase again, in the database and storage, every user the log records as erased after
        `since` (a restored backup's time): run after a restore, it takes back what the backup
        brought back. Idempotent, like each step; returns the user ids."""
        users = self.erased_since(since)
        for user_id in users:
            self.close_account(user_id)
            self.delete_files(user_id)
            self.anonymise_records(user_id)
        return users
