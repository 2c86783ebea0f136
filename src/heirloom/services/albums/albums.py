"""Albums as their owner sees them: status and counts per status of their photos' jobs, the
end (`album.completed` on the change feed and webhooks), the ZIP of results (kept a day) and
the share link of the whole album."""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from heirloom.db.engine import Database
from heirloom.db.models import Album, Job, as_utc, utcnow
from heirloom.domain.errors import NotFound, ResultExpired, ResultNotReady
from heirloom.domain.jobs import JobStatus
from heirloom.services.events import event_log as events
from heirloom.services.results.shares import TOKEN_BYTES, hash_token
from heirloom.services.storage.base import Storage

RUNNING, COMPLETED = "running", "completed"
ALBUM_COMPLETED = "album.completed"


def album_zip_key(user_id: str, album_id: str) -> str:
    """Under the user's prefix, so an account's erasure removes it too."""
    return f"users/{user_id}/albums/{album_id}.zip"


def album_state(album: Album, counts: dict[str, int]) -> dict[str, Any]:
    """What the album's stream and webhook show of it."""
    zip_kept = album.zip_key is not None
    return {
        "id": album.id,
        "status": album.status,
        "photos": album.photos,
        "counts": counts,
        "credits_charged": album.cost,
        "zip_url": f"/v1/albums/{album.id}/zip" if zip_kept else None,
        "finished_at": as_utc(album.finished_at).isoformat() if album.finished_at else None,
    }


class Albums:
    """Reads and the few writes of albums (their charge is services/albums/charges.py)."""

    def __init__(self, db: Database, storage: Storage) -> None:
        self.db = db
        self.storage = storage

    def get_owned(self, user_id: str, album_id: str) -> Album:
        """The caller's album; NotFound for another user's or an unknown id."""
        with self.db.session() as session:
            album = session.get(Album, album_id)
            if album is None or album.user_id != user_id:
                raise NotFound("No such album.")
            session.expunge(album)
            return album

    def exists(self, album_id: str) -> bool:
        with self.db.session() as session:
            return session.get(Album, album_id) is not None

    def jobs(self, album_id: str) -> list[Job]:
        """The album's photos' jobs, in the order they were uploaded (their ids sort so)."""
        with self.db.session() as session:
            jobs = list(
                session.exec(select(Job).where(col(Job.album_id) == album_id).order_by(col(Job.id)))
            )
            for job in jobs:
                session.expunge(job)
            return jobs

    def counts(self, album_id: str) -> dict[str, int]:
        """The album's photos by status; every status listed, zeros too."""
        with self.db.session() as session:
            rows = session.execute(
                sa.select(col(Job.status), sa.func.count())
                .where(col(Job.album_id) == album_id)
                .group_by(col(Job.status))
            ).all()
        counted = Counter({status: int(n) for status, n in rows})
        return {status.value: counted[status.value] for status in JobStatus}

    def finish(self, album_id: str, zip_key: str | None, zip_valid_s: int) -> bool:
        """Mark the album completed with its ZIP and record `album.completed` on the change
        feed (and for webhooks), in one transaction; a repeat changes nothing."""
        counts = self.counts(album_id)
        now = utcnow()
        with self.db.session() as session:
            result = session.execute(
                sa.update(Album)
                .where(col(Album.id) == album_id, col(Album.status) == RUNNING)
                .values(
                    status=COMPLETED,
                    finished_at=now,
                    zip_key=zip_key,
                    zip_expires_at=(
                        now + timedelta(seconds=zip_valid_s) if zip_key is not None else None
                    ),
                )
                .execution_options(synchronize_session=False)
            )
            if not getattr(result, "rowcount", 0):
                return False
            album = session.get(Album, album_id, populate_existing=True)
            assert album is not None
            events.append_state(
                session,
                subject_id=album_id,
                user_id=album.user_id,
                event_type=ALBUM_COMPLETED,
                state=album_state(album, counts),
            )
            return True

    def expire_zip(self, album_id: str) -> None:
        """Remove the album's ZIP once its day is over; a repeat changes nothing."""
        with self.db.session() as session:
            album = session.get(Album, album_id)
            if album is None or album.zip_key is None:
                return
            key = album.zip_key
            album.zip_key = None
            album.zip_expires_at = None
        self.storage.delete(key)

    def zip_key(self, user_id: str, album_id: str, now: datetime) -> str:
        """The caller's album's ZIP key; 409 before the album ended, 410 once the ZIP's day
        is over."""
        album = self.get_owned(user_id, album_id)
        if album.status != COMPLETED:
            raise ResultNotReady("The album's ZIP is made once every photo has ended.")
        expires = album.zip_expires_at
        if album.zip_key is None or (expires is not None and as_utc(expires) <= now):
            raise ResultExpired("The album's ZIP was kept for a day and has been removed.")
        return album.zip_key

    def share(self, user_id: str, album_id: str) -> str:
        """A new share link token for the whole album (the previous one stops working)."""
        self.get_owned(user_id, album_id)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self.db.session() as session:
            session.execute(
                sa.update(Album)
                .where(col(Album.id) == album_id)
                .values(share_token_hash=hash_token(token))
                .execution_options(synchronize_session=False)
            )
        return token

    def unshare(self, user_id: str, album_id: str) -> None:
        """Revoke the album's share link."""
        self.get_owned(user_id, album_id)
        with self.db.session() as session:
            session.execute(
                sa.update(Album)
                .where(col(Album.id) == album_id)
                .values(share_token_hash=None)
                .execution_options(synchronize_session=False)
            )

    def shared(self, token: str) -> Album:
        """The album a share token opens; NotFound for an unknown or revoked one (only the
        current token's hash is kept, so the two cannot be told apart)."""
        with self.db.session() as session:
            album = session.exec(
                select(Album).where(col(Album.share_token_hash) == hash_token(token))
            ).first()
            if album is None:
                raise NotFound("No album at this link; it may have been revoked.")
            session.expunge(album)
            return album
