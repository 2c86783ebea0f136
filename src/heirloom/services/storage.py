"""Object storage for photos and results: local disk or S3, behind one small interface.

Keys are `/`-separated segments of `[A-Za-z0-9._-]` that never start with a dot, so no key
can escape a LocalStorage root and both backends accept exactly the same keys. Missing
objects raise StorageObjectMissing; an outage (S3 transport errors, throttling, 5xx, disk
errors) raises the transient StorageUnavailable so the activity RetryPolicy retries it.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final, Protocol, cast

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ChecksumError,
    ClientError,
    FlexibleChecksumError,
    HTTPClientError,
    IncompleteReadError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from heirloom.config import Settings
from heirloom.domain.errors import StorageUnavailable

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType

KEY_KINDS: Final = ("original", "input", "model", "result", "thumbnail", "comparison")

# 200 characters leave room for LocalStorage's temp-file names within NAME_MAX (255).
_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}"
_KEY_RE: Final = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_PREFIX_RE: Final = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*/?")
_MAX_KEY_LEN: Final = 1024
_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,128}")
_EXT_RE: Final = re.compile(r"[a-z0-9]{1,16}")

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


def job_key(user_id: str, job_id: str, kind: str, ext: str) -> str:
    """The deterministic key of one file of a job, e.g. `users/u1/jobs/j1/result.jpg`."""
    if kind not in KEY_KINDS:
        raise ValueError(f"unknown storage kind {kind!r}; expected one of {KEY_KINDS}")
    if not _EXT_RE.fullmatch(ext):
        raise ValueError(f"unsafe file extension {ext!r}")
    return f"{job_prefix(user_id, job_id)}{kind}.{ext}"


def job_prefix(user_id: str, job_id: str) -> str:
    """The prefix holding every file of one job, ending in `/`."""
    for name, value in (("user_id", user_id), ("job_id", job_id)):
        if not _ID_RE.fullmatch(value):
            raise ValueError(f"unsafe {name} {value!r}")
    return f"users/{user_id}/jobs/{job_id}/"


def claim_key(user_id: str, job_id: str, generation: int) -> str:
    """The key of the model-run claim of one generation of a job (see activities.restoration)."""
    if generation < 0:
        raise ValueError(f"negative claim generation {generation}")
    return f"{job_prefix(user_id, job_id)}claims/{generation}.json"


def _check_key(key: str) -> str:
    if len(key) > _MAX_KEY_LEN or not _KEY_RE.fullmatch(key):
        raise ValueError(f"invalid storage key {key!r}")
    return key


def _check_prefix(prefix: str) -> str:
    if len(prefix) > _MAX_KEY_LEN or not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"invalid storage prefix {prefix!r}")
    return prefix


def _check_chunk_size(chunk_size: int) -> None:
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")


# --- local disk --------------------------------------------------------------------------

# Errors meaning "nothing stored at this path": absent, or a directory where a file was expected.
_LOCAL_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


def _written_beside(path: Path, data: bytes) -> str:
    """`data` fully written and fsynced to a temp file in `path`'s folder; returns its name.

    Dot-prefixed temp names can never collide with a key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


class LocalStorage:
    """Objects as files under `root`; writes go to a temp file and are renamed into place.

    `content_type` is not kept. A key cannot be both an object and the parent of another
    (`a/b` and `a/b/c`), which job keys never need.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        path = self._path(key)
        try:
            tmp = _written_beside(path, data)
            try:
                os.replace(tmp, path)
            except BaseException:
                with suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise StorageUnavailable() from exc

    def create(self, key: str, data: bytes, *, content_type: str) -> bool:
        path = self._path(key)
        try:
            tmp = _written_beside(path, data)
            try:
                # link(2) fails if the name exists, atomically: the local If-None-Match.
                os.link(tmp, path)
            except FileExistsError:
                return False
            finally:
                with suppress(FileNotFoundError):
                    os.unlink(tmp)
        except OSError as exc:
            raise StorageUnavailable() from exc
        return True

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except _LOCAL_MISSING as exc:
            raise StorageObjectMissing(key) from exc
        except OSError as exc:
            raise StorageUnavailable() from exc

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except StorageObjectMissing:
            return False
        return True

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except _LOCAL_MISSING:
            pass
        except OSError as exc:
            raise StorageUnavailable() from exc

    def delete_prefix(self, prefix: str) -> int:
        _check_prefix(prefix)
        directory, _, name_start = prefix.rpartition("/")
        parent = self.root / directory
        try:
            with os.scandir(parent) as it:
                entries = [e for e in it if e.name.startswith(name_start)]
        except _LOCAL_MISSING:
            return 0
        except OSError as exc:
            raise StorageUnavailable() from exc
        try:
            count = sum(self._delete_entry(entry) for entry in entries)
        except OSError as exc:
            raise StorageUnavailable() from exc
        if not name_start and parent != self.root:
            with suppress(OSError):
                parent.rmdir()
        return count

    @staticmethod
    def _delete_entry(entry: os.DirEntry[str]) -> int:
        """Delete the objects at or under one directory entry, pruning emptied directories."""
        if entry.name.startswith("."):
            return 0
        if not entry.is_dir(follow_symlinks=False):
            with suppress(FileNotFoundError):
                os.unlink(entry.path)
                return 1
            return 0
        count = 0
        for dirpath, dirnames, filenames in os.walk(entry.path, topdown=False):
            for filename in filenames:
                if filename.startswith("."):
                    continue  # another writer's temp file, not an object
                with suppress(FileNotFoundError):
                    os.unlink(os.path.join(dirpath, filename))
                    count += 1
            for dirname in dirnames:
                with suppress(OSError):
                    os.rmdir(os.path.join(dirpath, dirname))
        with suppress(OSError):
            os.rmdir(entry.path)
        return count

    def size(self, key: str) -> int:
        path = self._path(key)
        try:
            st = path.stat()
        except _LOCAL_MISSING as exc:
            raise StorageObjectMissing(key) from exc
        except OSError as exc:
            raise StorageUnavailable() from exc
        if not stat.S_ISREG(st.st_mode):
            raise StorageObjectMissing(key)
        return st.st_size

    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        _check_chunk_size(chunk_size)
        path = self._path(key)
        try:
            f = path.open("rb")
        except _LOCAL_MISSING as exc:
            raise StorageObjectMissing(key) from exc
        except OSError as exc:
            raise StorageUnavailable() from exc
        return _read_file_chunks(f, chunk_size)


def _read_file_chunks(f: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with f:
        while True:
            try:
                chunk = f.read(chunk_size)
            except OSError as exc:
                raise StorageUnavailable() from exc
            if not chunk:
                return
            yield chunk


# --- S3 ----------------------------------------------------------------------------------

_S3_MISSING_CODES: Final = frozenset({"NoSuchKey", "NotFound", "404"})
_S3_TRANSIENT_CODES: Final = frozenset(
    {"SlowDown", "RequestTimeout", "Throttling", "ThrottlingException", "TooManyRequests"}
)
_S3_TRANSPORT_ERRORS: Final = (
    BotoConnectionError,  # EndpointConnectionError, ConnectTimeoutError, SSL and proxy errors
    HTTPClientError,  # ReadTimeoutError, ConnectionClosedError, ResponseStreamingError
    IncompleteReadError,
    ChecksumError,
    FlexibleChecksumError,
)


@contextmanager
def _s3_errors(key: str) -> Iterator[None]:
    """Translate botocore errors: not found -> StorageObjectMissing, outages -> StorageUnavailable.

    Other client errors (AccessDenied, NoSuchBucket, ...) are configuration faults and
    propagate unchanged, so they are not retried as if the service were merely down.
    """
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _S3_MISSING_CODES:
            raise StorageObjectMissing(key) from exc
        if status >= 500 or status == 429 or code in _S3_TRANSIENT_CODES:
            raise StorageUnavailable() from exc
        raise
    except _S3_TRANSPORT_ERRORS as exc:
        raise StorageUnavailable() from exc


class S3Storage:
    """Objects in one S3 (or MinIO) bucket, through a boto3 client with bounded timeouts."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        client: S3Client | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        max_attempts: int = 3,
    ) -> None:
        self.bucket = bucket
        self.region = region
        self.client: S3Client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=_client_config(
                custom_endpoint=endpoint_url is not None,
                connect_timeout_s=connect_timeout_s,
                read_timeout_s=read_timeout_s,
                max_attempts=max_attempts,
            ),
        )

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist yet (dev stacks and tests)."""
        with _s3_errors(self.bucket):
            try:
                self.client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
                    raise
            try:
                if self.region == "us-east-1":
                    self.client.create_bucket(Bucket=self.bucket)
                else:
                    self.client.create_bucket(
                        Bucket=self.bucket,
                        CreateBucketConfiguration={
                            "LocationConstraint": cast("BucketLocationConstraintType", self.region)
                        },
                    )
            except self.client.exceptions.BucketAlreadyOwnedByYou:
                pass

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        with _s3_errors(_check_key(key)):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def create(self, key: str, data: bytes, *, content_type: str) -> bool:
        try:
            with _s3_errors(_check_key(key)):
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=data,
                    ContentType=content_type,
                    IfNoneMatch="*",
                )
        except ClientError as exc:
            if _is_precondition_failed(exc):
                return False
            raise
        return True

    def presigned_get(self, key: str, *, expires_s: int) -> str:
        """A URL that reads the object with a plain GET until it expires."""
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": _check_key(key)},
            ExpiresIn=expires_s,
        )

    def presigned_put(
        self, key: str, *, expires_s: int, content_type: str, if_absent: bool = False
    ) -> PresignedPut:
        """A URL (and the headers to send with it) that writes the object once with a PUT.

        With `if_absent` the URL only creates: S3 answers 412 when the key exists.
        """
        params: dict[str, str] = {"Bucket": self.bucket, "Key": _check_key(key)}
        headers = {"Content-Type": content_type}
        params["ContentType"] = content_type
        if if_absent:
            params["IfNoneMatch"] = "*"
            headers["If-None-Match"] = "*"
        url = self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_s)
        return PresignedPut(url=url, headers=headers)

    def get(self, key: str) -> bytes:
        with _s3_errors(_check_key(key)):
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except StorageObjectMissing:
            return False
        return True

    def delete(self, key: str) -> None:
        with _s3_errors(_check_key(key)):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        with _s3_errors(_check_prefix(prefix)):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                keys = [obj["Key"] for obj in page.get("Contents", [])]
                if not keys:
                    continue
                response = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True},
                )
                if response.get("Errors"):
                    raise StorageUnavailable()
                count += len(keys)
        return count

    def size(self, key: str) -> int:
        with _s3_errors(_check_key(key)):
            return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]

    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        _check_chunk_size(chunk_size)
        with _s3_errors(_check_key(key)):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return _read_body_chunks(body, key, chunk_size)

    def presigned_get_url(
        self, key: str, *, expires_s: int, content_type: str, disposition: str
    ) -> str:
        """A short-lived URL that downloads the object straight from S3, with these headers."""
        self.size(key)  # a missing object is the caller's 404/410, not S3's error page
        return self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": _check_key(key),
                "ResponseContentType": content_type,
                "ResponseContentDisposition": disposition,
                "ResponseCacheControl": "private, no-store",
            },
            ExpiresIn=expires_s,
        )


def _is_precondition_failed(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error.get("Code") in {"PreconditionFailed", "412"} or status == 412


def _read_body_chunks(body: StreamingBody, key: str, chunk_size: int) -> Iterator[bytes]:
    try:
        with _s3_errors(key):
            yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


def _client_config(
    *, custom_endpoint: bool, connect_timeout_s: float, read_timeout_s: float, max_attempts: int
) -> Config:
    config = Config(
        # SigV4 also for presigned URLs, whose expiry it signs (X-Amz-Expires, at most 7 days).
        signature_version="s3v4",
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
    )
    if not custom_endpoint:
        return config
    # S3-compatible servers (MinIO, moto) want path-style URLs and may not accept the
    # flexible checksums boto3 sends by default since 1.36.
    return config.merge(
        Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
    )


def make_storage(settings: Settings) -> Storage:
    """The storage backend the settings choose."""
    if settings.storage_backend == "s3":
        return S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
    return LocalStorage(settings.resolved_storage_dir)
