"""Serving a stored photo: a presigned S3 URL (302) in production, a stream from local disk."""

from __future__ import annotations

from fastapi import Response, status
from fastapi.responses import RedirectResponse, StreamingResponse

from heirloom.db.models import Job
from heirloom.domain.errors import JobDeleted, ResultExpired, ResultNotReady
from heirloom.domain.jobs import JobStatus
from heirloom.services.context import Services
from heirloom.services.storage.s3 import S3Storage

MEDIA_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "tif": "image/tiff",
    "bmp": "image/bmp",
    "heic": "image/heic",
    "avif": "image/avif",
}


def check_files_kept(job: Job) -> None:
    """410 Gone, in plain words, for a job whose files were deleted."""
    if job.status == JobStatus.EXPIRED:
        raise ResultExpired()
    if job.status == JobStatus.DELETED:
        raise JobDeleted()


def job_file_key(job: Job, kind: str) -> str:
    """The key of one of a job's files, or the right error when it has none (any more)."""
    check_files_kept(job)
    if kind == "original":
        return job.original_key
    key = {
        "result": job.result_key,
        "thumbnail": job.thumbnail_key,
        "comparison": job.comparison_key,
    }[kind]
    if job.status != JobStatus.COMPLETED or key is None:
        raise ResultNotReady(f"The job is {job.status}; its {kind} is not available.")
    return key


def file_response(
    services: Services, key: str, *, filename: str, attachment: bool = False
) -> Response:
    """The object as a download: S3 answers a presigned URL, local disk streams it."""
    media_type = MEDIA_TYPES.get(key.rpartition(".")[2], "application/octet-stream")
    disposition = f'{"attachment" if attachment else "inline"}; filename="{filename}"'
    storage = services.storage
    if isinstance(storage, S3Storage):
        url = storage.presigned_get_url(
            key,
            expires_s=services.settings.download_url_ttl_s,
            content_type=media_type,
            disposition=disposition,
        )
        return RedirectResponse(
            url, status_code=status.HTTP_302_FOUND, headers={"Cache-Control": "no-store"}
        )
    return StreamingResponse(
        storage.iter_chunks(key),
        media_type=media_type,
        headers={
            "Content-Length": str(storage.size(key)),
            "Content-Disposition": disposition,
            "Cache-Control": "private, max-age=3600",
        },
    )
