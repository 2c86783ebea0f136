"""Object storage for photos and results: local disk or S3, behind one small interface.

Keys are `/`-separated segments of `[A-Za-z0-9._-]` that never start with a dot, so no key
can escape a LocalStorage root and both backends accept exactly the same keys. Missing
objects raise StorageObjectMissing; an outage (S3 transport errors, throttling, 5xx, disk
errors) raises the transient StorageUnavailable so the activity RetryPolicy retries it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final, Protocol

# 200 characters leave room for LocalStorage's temp-file names within NAME_MAX (255).
_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}"
_KEY_RE: Final = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_PREFIX_RE: Final = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*/?")
_MAX_KEY_LEN: Final = 1024

DEFAULT_CHUNK_SIZE: Final = 1 << 16


@dataclass(frozen=True)
class PresignedPut:
    """A presigned PUT: the URL and the headers the request must carry (they are signed)."""

    url: str
    headers: dict[str, str]


class StorageObjectMissing(LookupError):
    """No object is stored under `key`; callers decide whether that is a 404 or a bug."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no stored object under {key!r}")


class Storage(Protocol):
    """What Heirloom needs from object storage; LocalStorage and S3Storage implement it."""

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store `data` under `key`, replacing any object there; readers never see a partial one."""
        ...

    def put_file(self, key: str, source: BinaryIO, *, content_type: str) -> None:
        """Store what `source` holds from its current position, read in chunks (a multipart
        upload on S3), so an object of any size never sits whole in memory; as `put`."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes; raises StorageObjectMissing."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        ...

    def create(self, key: str, data: bytes, *, content_type: str) -> bool:
        """Store `data` only if nothing is stored under `key`; False if something already is.

        Of concurrent creates exactly one returns True, so this is a claim.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing one is fine."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with `prefix`; returns how many."""
        ...

    def size(self, key: str) -> int:
        """The object's size in bytes; raises StorageObjectMissing."""
        ...

    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """The object's bytes in chunks; a missing object raises at call time, before iterating."""
        ...


def check_key(key: str) -> str:
    if len(key) > _MAX_KEY_LEN or not _KEY_RE.fullmatch(key):
        raise ValueError(f"invalid storage key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    if len(prefix) > _MAX_KEY_LEN or not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"invalid storage prefix {prefix!r}")
    return prefix


def check_chunk_size(chunk_size: int) -> None:
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
