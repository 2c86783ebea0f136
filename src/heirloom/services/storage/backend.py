"""Which storage backend a deployment uses: local disk by default, S3 in production."""

from __future__ import annotations

from heirloom.config import Settings
from heirloom.services.storage.base import Storage
from heirloom.services.storage.local import LocalStorage
from heirloom.services.storage.s3 import S3Storage


def make_storage(settings: Settings) -> Storage:
    """The storage backend the settings choose."""
    if settings.storage_backend == "s3":
        return S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
    return LocalStorage(settings.resolved_storage_dir)
