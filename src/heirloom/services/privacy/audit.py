"""The audit log of photo access: who touched whose photo, when, from where and how."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from heirloom.db.engine import Database
from heirloom.db.models import AuditEntry

# How an access came in.
VIA_API = "api"
VIA_SHARE = "share"
VIA_ADMIN = "admin"
VIA_SYSTEM = "system"
PUBLIC_ACTOR = "public"


@dataclass(frozen=True)
class Caller:
    """Who is asking and from where: the authenticated user (or "public") and the client."""

    actor: str
    ip: str | None
    user_agent: str | None
    via: str = VIA_API


class AuditLog:
    """Append-only rows; read back by owner, or by an admin over any user and time range."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        caller: Caller,
        *,
        owner_id: str,
        action: str,
        job_id: str | None = None,
        share_id: str | None = None,
    ) -> None:
        with self.db.session() as session:
            session.add(
                AuditEntry(
                    owner_id=owner_id,
                    actor=caller.actor,
                    action=action,
                    job_id=job_id,
                    share_id=share_id,
                    via=caller.via,
                    ip=(caller.ip or "")[:64] or None,
                    user_agent=(caller.user_agent or "")[:300] or None,
                )
            )

    def query(
        self,
        owner_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """The owner's rows, newest first."""
        statement = select(AuditEntry).where(AuditEntry.owner_id == owner_id)
        if since is not None:
            statement = statement.where(col(AuditEntry.at) >= since)
        if until is not None:
            statement = statement.where(col(AuditEntry.at) < until)
        if before_id is not None:
            statement = statement.where(col(AuditEntry.id) < before_id)
        with self.db.session() as session:
            return list(session.exec(statement.order_by(col(AuditEntry.id).desc()).limit(limit)))
