"""An album's ZIP of results, built like the data export: written to a temporary file, each
result streamed chunk by chunk, then uploaded in parts; its size never sits in memory."""

from __future__ import annotations

import tempfile
import zipfile

from heirloom.db.models import Job
from heirloom.domain.jobs import JobStatus
from heirloom.services.albums.albums import album_zip_key
from heirloom.services.storage.base import DEFAULT_CHUNK_SIZE, Storage, StorageObjectMissing


def build_album_zip(storage: Storage, user_id: str, album_id: str, jobs: list[Job]) -> str:
    """Store the ZIP of the album's completed results (`NNN-<job id>.jpg`, in upload order)
    and return its key; the same key on a repeat, written again."""
    key = album_zip_key(user_id, album_id)
    with tempfile.TemporaryFile() as spool:
        with zipfile.ZipFile(spool, "w", zipfile.ZIP_STORED) as archive:
            for number, job in enumerate(jobs, start=1):
                if job.status != JobStatus.COMPLETED or job.result_key is None:
                    continue
                _add(storage, archive, f"{number:03d}-{job.id}.jpg", job.result_key)
        spool.seek(0)
        storage.put_file(key, spool, content_type="application/zip")
    return key


def _add(storage: Storage, archive: zipfile.ZipFile, name: str, key: str) -> None:
    try:
        chunks = storage.iter_chunks(key, DEFAULT_CHUNK_SIZE)
    except StorageObjectMissing:
        return  # deleted by its owner since the row was read
    # JPEGs are compressed already; zip64 so no entry's size is a limit.
    info = zipfile.ZipInfo(name)
    with archive.open(info, "w", force_zip64=True) as entry:
        for chunk in chunks:
            entry.write(chunk)
