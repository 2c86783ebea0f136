"""Short-lived stream tokens: how a browser's WebSocket or EventSource authenticates.

Browsers cannot set headers on those, and an API key in a URL ends up in logs; a token lives
minutes, names only its user, and only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col

from heirloom.db.engine import Database
from heirloom.db.models import StreamToken, as_utc, utcnow


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StreamTokens:
    """Issues and checks stream tokens; several API processes share them through the database."""

    def __init__(self, db: Database, *, ttl_s: int) -> None:
        self.db = db
        self.ttl = timedelta(seconds=ttl_s)

    def issue(self, user_id: str) -> IssuedToken:
        now = utcnow()
        token = "st_" + secrets.token_urlsafe(24)
        expires_at = now + self.ttl
        with self.db.session() as session:
            # Expired tokens are useless; dropping them here keeps the table small.
            session.execute(sa.delete(StreamToken).where(col(StreamToken.expires_at) < now))
            session.add(
                StreamToken(token_hash=_hash(token), user_id=user_id, expires_at=expires_at)
            )
        return IssuedToken(token=token, expires_at=expires_at)

    def user_for(self, token: str) -> str | None:
        """The user a live token belongs to; None for an unknown or expired one."""
        with self.db.session() as session:
            row = session.get(StreamToken, _hash(token))
            if row is None or as_utc(row.expires_at) <= utcnow():
                return None
            return row.user_id
