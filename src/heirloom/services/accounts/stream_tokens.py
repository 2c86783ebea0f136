"""Short-lived stream tokens: how a browser's WebSocket or EventSource authenticates.

Browsers cannot set headers on those, and an API key in a URL ends up in logs; a token lives
minutes, opens one stream only (one job's, or `/v1/events`), and works only while the API key
that made it is not revoked. Only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from heirloom.db.engine import Database
from heirloom.db.models import ApiKey, StreamToken, as_utc, utcnow


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    job_id: str | None


@dataclass(frozen=True)
class StreamGrant:
    """Whom a live token lets in: its user, and the key that made it (re-checked while the
    stream is open)."""

    user_id: str
    key_id: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StreamTokens:
    """Issues and checks stream tokens; several API processes share them through the database."""

    def __init__(self, db: Database, *, ttl_s: int) -> None:
        self.db = db
        self.ttl = timedelta(seconds=ttl_s)

    def issue(self, user_id: str, key_id: str, job_id: str | None = None) -> IssuedToken:
        """A token of `key_id`'s for the stream of `job_id` (None: `/v1/events`); the caller
        checked that the job is the user's."""
        now = utcnow()
        token = "st_" + secrets.token_urlsafe(24)
        expires_at = now + self.ttl
        with self.db.session() as session:
            # Expired tokens are useless; dropping them here keeps the table small.
            session.execute(sa.delete(StreamToken).where(col(StreamToken.expires_at) < now))
            session.add(
                StreamToken(
                    token_hash=_hash(token),
                    user_id=user_id,
                    key_id=key_id,
                    job_id=job_id,
                    expires_at=expires_at,
                )
            )
        return IssuedToken(token=token, expires_at=expires_at, job_id=job_id)

    def grant_for(self, token: str, job_id: str | None) -> StreamGrant | None:
        """Whom a token lets into the stream of `job_id` (None: `/v1/events`); None for an
        unknown or expired token, one made for another stream, or one whose key is revoked."""
        with self.db.session() as session:
            found = session.exec(
                select(StreamToken, ApiKey)
                .join(ApiKey, col(ApiKey.id) == col(StreamToken.key_id))
                .where(
                    StreamToken.token_hash == _hash(token),
                    col(ApiKey.revoked_at).is_(None),
                    col(ApiKey.user_id) == col(StreamToken.user_id),
                )
            ).one_or_none()
            if found is None:
                return None
            row, _key = found
            if as_utc(row.expires_at) <= utcnow() or row.job_id != job_id:
                return None
            return StreamGrant(user_id=row.user_id, key_id=row.key_id)
