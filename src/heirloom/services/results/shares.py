"""Share links: a random token in the URL, only its SHA-256 in the database."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from heirloom.db.engine import Database
from heirloom.db.models import Job, Share, as_utc
from heirloom.db.paging import Page, SortKey, keyset, page_of
from heirloom.domain.errors import NotFound, ResultNotReady, ShareGone
from heirloom.domain.jobs import JobStatus
from heirloom.domain.paging import Cursor

# 32 random bytes: 256 bits, far past guessing.
TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewShare:
    """A created share and its token, which is shown once."""

    share: Share
    token: str


class Shares:
    """Create, list, revoke and resolve share links."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        job: Job,
        *,
        expires_in_s: int,
        allow_download: bool,
        now: datetime,
        created_by_key_id: str | None = None,
    ) -> NewShare:
        if job.status != JobStatus.COMPLETED:
            raise ResultNotReady(f"The job is {job.status}; only completed jobs can be shared.")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        share = Share(
            id=uuid.uuid4().hex,
            job_id=job.id,
            user_id=job.user_id,
            token_hash=hash_token(token),
            allow_download=allow_download,
            created_at=now,
            expires_at=now + timedelta(seconds=expires_in_s),
            created_by_key_id=created_by_key_id,
        )
        with self.db.session() as session:
            session.add(share)
        return NewShare(share=share, token=token)

    def page_for_job(
        self, user_id: str, job_id: str, *, limit: int, after: Cursor | None
    ) -> Page[Share]:
        """A job's share links, newest first (ties by id), starting after `after`."""
        order = SortKey(id=col(Share.id), at=col(Share.created_at))
        statement = select(Share).where(Share.user_id == user_id, Share.job_id == job_id)
        with self.db.session() as session:
            rows = list(session.exec(keyset(statement, order, after, limit)))
        return page_of(rows, limit, lambda share: Cursor(share.id, as_utc(share.created_at)))

    def list_for_job(self, user_id: str, job_id: str) -> list[Share]:
        with self.db.session() as session:
            return list(
                session.exec(
                    select(Share)
                    .where(Share.user_id == user_id, Share.job_id == job_id)
                    .order_by(col(Share.created_at).desc())
                )
            )

    def revoke(self, user_id: str, share_id: str, now: datetime) -> Share:
        """Revoke a share (repeats keep the first revocation time)."""
        with self.db.session() as session:
            share = session.get(Share, share_id)
            if share is None or share.user_id != user_id:
                raise NotFound("No such share.")
            if share.revoked_at is None:
                share.revoked_at = now
                session.add(share)
            return share

    def resolve(self, token: str, now: datetime) -> tuple[Share, Job]:
        """The live share of a token and its job; 404 if unknown, 410 if no longer live."""
        with self.db.session() as session:
            share = session.exec(
                select(Share).where(Share.token_hash == hash_token(token))
            ).one_or_none()
            if share is None:
                raise NotFound("No such share link.")
            job = session.get(Job, share.job_id)
        if share.revoked_at is not None:
            raise ShareGone("This share link was revoked by its owner.")
        if share.expires_at is not None and as_utc(share.expires_at) <= now:
            raise ShareGone("This share link has expired.")
        if job is None or job.status != JobStatus.COMPLETED:
            raise ShareGone("The photo behind this share link is no longer available.")
        return share, job

    def count_view(self, share_id: str) -> None:
        with self.db.session() as session:
            session.execute(
                sa.update(Share)
                .where(col(Share.id) == share_id)
                .values(views=Share.views + 1)
                .execution_options(synchronize_session=False)
            )
