"""A user's data export: one ZIP with the profile, ledger, jobs and audit trail as JSON, and
every original and result still kept."""

from __future__ import annotations

import json
import tempfile
import zipfile
from typing import Any

from sqlmodel import col, select

from heirloom.db.engine import Database
from heirloom.db.models import AuditEntry, CreditEntry, Job, User
from heirloom.domain.errors import NotFound
from heirloom.services.storage.base import Storage, StorageObjectMissing

# The ZIP is spooled in memory up to this size, then on disk.
_SPOOL_BYTES = 32 * 1024 * 1024


def export_key(user_id: str, export_id: str) -> str:
    """Under the user's prefix, so an account's erasure removes its exports too."""
    return f"users/{user_id}/exports/{export_id}.zip"


def _row(model: Any, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(mode="json")
    return {k: v for k, v in data.items() if k not in drop}


class Exporter:
    """Builds one user's export and stores it."""

    def __init__(self, db: Database, storage: Storage) -> None:
        self.db = db
        self.storage = storage

    def build(self, user_id: str, export_id: str) -> str:
        """Write the ZIP (again, if repeated: same key, same content) and return its key."""
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound("No such user.")
            ledger = session.exec(
                select(CreditEntry)
                .where(CreditEntry.user_id == user_id)
                .order_by(col(CreditEntry.id))
            ).all()
            jobs = session.exec(
                select(Job).where(Job.user_id == user_id).order_by(col(Job.created_at))
            ).all()
            audit = session.exec(
                select(AuditEntry)
                .where(AuditEntry.owner_id == user_id)
                .order_by(col(AuditEntry.id))
            ).all()
            profile = _row(user, drop=("api_key_hash",))
            ledger_rows = [_row(entry, drop=("idempotency_key",)) for entry in ledger]
            job_rows = [_row(job, drop=("error_detail", "request_hash")) for job in jobs]
            audit_rows = [_row(entry) for entry in audit]
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("profile.json", json.dumps(profile, indent=2))
                archive.writestr("ledger.json", json.dumps(ledger_rows, indent=2))
                archive.writestr("jobs.json", json.dumps(job_rows, indent=2))
                archive.writestr("audit.json", json.dumps(audit_rows, indent=2))
                for job in jobs:
                    self._add_photos(archive, job)
            spool.seek(0)
            data = spool.read()
        key = export_key(user_id, export_id)
        self.storage.put(key, data, content_type="application/zip")
        return key

    def _add_photos(self, archive: zipfile.ZipFile, job: Job) -> None:
        keys = [job.original_key, job.result_key, job.thumbnail_key, job.comparison_key]
        for key in keys:
            if not key:
                continue
            try:
                data = self.storage.get(key)
            except StorageObjectMissing:
                continue  # expired or deleted since the row was read
            # JPEG and PNG are compressed already.
            archive.writestr(f"photos/{job.id}/{key.rpartition('/')[2]}", data, zipfile.ZIP_STORED)
