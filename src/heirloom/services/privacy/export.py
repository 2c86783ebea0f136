"""A user's data export, as a resource: requested (one building at a time, a few a day), built
into one ZIP streamed to storage, downloadable for a day, then removed.

The ZIP holds the profile, ledger, jobs, audit trail, API keys (names and prefixes), webhook
settings, share links and albums as JSON (never a key hash, token hash or webhook secret), and every
original and result still kept. It is written to a temporary file on disk, one stored photo
chunk by chunk, and uploaded from there in parts: its size never sits in memory.
"""

from __future__ import annotations

import json
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from heirloom.db.engine import Database
from heirloom.db.models import (
    Album,
    ApiKey,
    AuditEntry,
    CreditEntry,
    DataExport,
    Job,
    Purchase,
    Share,
    User,
    WebhookEndpoint,
    as_utc,
    utcnow,
)
from heirloom.db.paging import Page, SortKey, keyset, page_of
from heirloom.domain.errors import Conflict, ExportLimitReached, NotFound
from heirloom.domain.paging import Cursor
from heirloom.services.privacy.erasure import ROLE_ERASED
from heirloom.services.storage.base import DEFAULT_CHUNK_SIZE, Storage, StorageObjectMissing

BUILDING, READY, EXPIRED, FAILED = "building", "ready", "expired", "failed"

# The window of the daily limit.
_DAY = timedelta(hours=24)


def export_key(user_id: str, export_id: str) -> str:
    """Under the user's prefix, so an account's erasure removes its exports too."""
    return f"users/{user_id}/exports/{export_id}.zip"


def _row(model: Any, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(mode="json")
    return {k: v for k, v in data.items() if k not in drop}


@dataclass(frozen=True)
class Built:
    """A finished build: the stored ZIP's key and size; `kept` False when the account's erasure
    began meanwhile and the ZIP was removed again."""

    key: str
    size: int
    kept: bool


class Exporter:
    """Requests, builds and expires one user's exports."""

    def __init__(self, db: Database, storage: Storage) -> None:
        self.db = db
        self.storage = storage

    # --- the resource -----------------------------------------------------------------------

    def request(self, user_id: str, *, daily_limit: int) -> DataExport:
        """Record a new export, building; Conflict while another builds, ExportLimitReached
        past `daily_limit` in 24 hours. The caller then starts its workflow."""
        now = utcnow()
        with self.db.session() as session:
            if self._building(session, user_id) is not None:
                raise _busy()
            recent = list(
                session.exec(
                    select(DataExport.created_at)
                    .where(
                        col(DataExport.user_id) == user_id,
                        col(DataExport.created_at) > now - _DAY,
                    )
                    .order_by(col(DataExport.created_at))
                )
            )
            if len(recent) >= daily_limit:
                oldest = as_utc(recent[-daily_limit])
                wait = max(1, int((oldest + _DAY - now).total_seconds()) + 1)
                raise ExportLimitReached(limit=daily_limit, retry_after=wait)
        export = DataExport(id=uuid.uuid4().hex, user_id=user_id, state=BUILDING, created_at=now)
        try:
            with self.db.session() as session:
                session.add(export)
                session.flush()
                session.refresh(export)
                session.expunge(export)
        except IntegrityError:
            # Another request of the same user won the race (the partial unique index).
            raise _busy() from None
        return export

    def get(self, user_id: str, export_id: str) -> DataExport:
        """The caller's export; NotFound for another user's or an unknown id."""
        with self.db.session() as session:
            export = session.get(DataExport, export_id)
            if export is None or export.user_id != user_id:
                raise NotFound("No such export.")
            session.expunge(export)
            return export

    def page(self, user_id: str, *, limit: int, after: Cursor | None) -> Page[DataExport]:
        """The caller's exports, newest first (ties by id), starting after `after`."""
        order = SortKey(id=col(DataExport.id), at=col(DataExport.created_at))
        statement = keyset(
            select(DataExport).where(col(DataExport.user_id) == user_id), order, after, limit
        )
        with self.db.session() as session:
            rows = list(session.exec(statement))
            for row in rows:
                session.expunge(row)
        return page_of(rows, limit, lambda row: Cursor(row.id, as_utc(row.created_at)))

    def forget(self, export_id: str) -> None:
        """The workflow could not be started: the export never existed."""
        with self.db.session() as session:
            session.execute(sa.delete(DataExport).where(col(DataExport.id) == export_id))

    def fail(self, export_id: str) -> None:
        """The build gave up: the user may start another."""
        self._set(export_id, FAILED, from_state=BUILDING)

    def expire(self, user_id: str, export_id: str) -> None:
        """The link's day is over: remove the ZIP."""
        self.storage.delete(export_key(user_id, export_id))
        self._set(export_id, EXPIRED, from_state=READY)

    # --- the build --------------------------------------------------------------------------

    def build(self, user_id: str, export_id: str, *, valid_s: int) -> Built:
        """Write the ZIP to storage (again, if repeated: same key), record it ready until
        `valid_s` from now, and keep it only if the account is not being erased."""
        key = export_key(user_id, export_id)
        with tempfile.TemporaryFile() as spool:
            with self.db.session() as session:
                user = session.get(User, user_id)
                if user is None:
                    raise NotFound("No such user.")
                self._write(session, user, spool)
            size = spool.tell()
            spool.seek(0)
            self.storage.put_file(key, spool, content_type="application/zip")
        now = utcnow()
        with self.db.session() as session:
            session.execute(
                sa.update(DataExport)
                .where(col(DataExport.id) == export_id, col(DataExport.state) == BUILDING)
                .values(
                    state=READY,
                    ready_at=now,
                    expires_at=now + timedelta(seconds=valid_s),
                    size_bytes=size,
                )
            )
        # Checked after the write: an erasure that began before this read removes the ZIP here;
        # one that begins after it deletes the user's files (this one too) in a later step.
        if self._erased(user_id):
            self.storage.delete(key)
            with self.db.session() as session:
                session.execute(sa.delete(DataExport).where(col(DataExport.id) == export_id))
            return Built(key=key, size=size, kept=False)
        return Built(key=key, size=size, kept=True)

    def _write(self, session: Session, user: User, spool: IO[bytes]) -> None:
        """The ZIP into `spool`: the JSON files, then each kept photo, streamed."""
        user_id = user.id
        ledger = session.exec(
            select(CreditEntry).where(CreditEntry.user_id == user_id).order_by(col(CreditEntry.id))
        ).all()
        jobs = session.exec(
            select(Job).where(Job.user_id == user_id).order_by(col(Job.created_at))
        ).all()
        audit = session.exec(
            select(AuditEntry).where(AuditEntry.owner_id == user_id).order_by(col(AuditEntry.id))
        ).all()
        keys = session.exec(
            select(ApiKey).where(ApiKey.user_id == user_id).order_by(col(ApiKey.created_at))
        ).all()
        shares = session.exec(
            select(Share).where(Share.user_id == user_id).order_by(col(Share.created_at))
        ).all()
        albums = session.exec(
            select(Album).where(Album.user_id == user_id).order_by(col(Album.created_at))
        ).all()
        purchases = session.exec(
            select(Purchase).where(Purchase.user_id == user_id).order_by(col(Purchase.created_at))
        ).all()
        webhook = session.get(WebhookEndpoint, user_id)
        documents: dict[str, Any] = {
            "profile.json": _row(user, drop=("api_key_hash",)),
            "ledger.json": [_row(entry, drop=("idempotency_key",)) for entry in ledger],
            "jobs.json": [
                _row(job, drop=("error_detail", "request_hash", "last_event")) for job in jobs
            ],
            "audit.json": [_row(entry) for entry in audit],
            # Names and prefixes: a key's hash never leaves the database.
            "api_keys.json": [_row(key, drop=("key_hash",)) for key in keys],
            "shares.json": [_row(share, drop=("token_hash",)) for share in shares],
            "albums.json": [_row(album, drop=("share_token_hash",)) for album in albums],
            # Receipts: what was bought, paid and paid back.
            "purchases.json": [_row(purchase) for purchase in purchases],
            # The settings, never the signing secrets.
            "webhook.json": (
                _row(webhook, drop=("secret", "previous_secret")) if webhook is not None else None
            ),
        }
        photos = [
            (job.id, key)
            for job in jobs
            for key in (job.original_key, job.result_key, job.thumbnail_key, job.comparison_key)
            if key
        ]
        with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, document in documents.items():
                archive.writestr(name, json.dumps(document, indent=2))
            for job_id, key in photos:
                self._add_photo(archive, f"photos/{job_id}/{key.rpartition('/')[2]}", key)

    def _add_photo(self, archive: zipfile.ZipFile, name: str, key: str) -> None:
        try:
            chunks = self.storage.iter_chunks(key, DEFAULT_CHUNK_SIZE)
        except StorageObjectMissing:
            return  # expired or deleted since the row was read
        # JPEG and PNG are compressed already; zip64 so no entry's size is a limit.
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_STORED
        with archive.open(info, "w", force_zip64=True) as entry:
            for chunk in chunks:
                entry.write(chunk)

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _building(session: Session, user_id: str) -> str | None:
        return session.exec(
            select(DataExport.id).where(
                col(DataExport.user_id) == user_id, col(DataExport.state) == BUILDING
            )
        ).first()

    def _erased(self, user_id: str) -> bool:
        with self.db.session() as session:
            user = session.get(User, user_id)
            return user is None or user.role == ROLE_ERASED

    def _set(self, export_id: str, state: str, *, from_state: str) -> None:
        with self.db.session() as session:
            session.execute(
                sa.update(DataExport)
                .where(col(DataExport.id) == export_id, col(DataExport.state) == from_state)
                .values(state=state)
            )


def _busy() -> Conflict:
    return Conflict(
        "An export of your data is already being built. Wait for it to be ready "
        "(GET its status_url), then start another if you need one."
    )
