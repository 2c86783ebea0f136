"""S3 (or MinIO) storage through boto3, with bounded timeouts and presigned URLs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO, Final, cast

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    ChecksumError,
    ClientError,
    FlexibleChecksumError,
    HTTPClientError,
    IncompleteReadError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from heirloom.domain.errors import StorageUnavailable
from heirloom.services.storage.base import (
    DEFAULT_CHUNK_SIZE,
    PresignedPut,
    StorageObjectMissing,
    check_chunk_size,
    check_key,
    check_prefix,
)

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType


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

# Multipart uploads of large objects (exports): 8 MiB parts, two at a time, so an upload
# holds about 16 MiB whatever the object's size.
_UPLOAD_CONFIG: Final = TransferConfig(
    multipart_threshold=8 * 1024 * 1024,
    multipart_chunksize=8 * 1024 * 1024,
    max_concurrency=2,
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
        with _s3_errors(check_key(key)):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_file(self, key: str, source: BinaryIO, *, content_type: str) -> None:
        with _s3_errors(check_key(key)):
            try:
                self.client.upload_fileobj(
                    source,
                    self.bucket,
                    key,
                    ExtraArgs={"ContentType": content_type},
                    Config=_UPLOAD_CONFIG,
                )
            except S3UploadFailedError as exc:
                raise StorageUnavailable() from exc

    def create(self, key: str, data: bytes, *, content_type: str) -> bool:
        try:
            with _s3_errors(check_key(key)):
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
            Params={"Bucket": self.bucket, "Key": check_key(key)},
            ExpiresIn=expires_s,
        )

    def presigned_put(
        self, key: str, *, expires_s: int, content_type: str, if_absent: bool = False
    ) -> PresignedPut:
        """A URL (and the headers to send with it) that writes the object once with a PUT.

        With `if_absent` the URL only creates: S3 answers 412 when the key exists.
        """
        params: dict[str, str] = {"Bucket": self.bucket, "Key": check_key(key)}
        headers = {"Content-Type": content_type}
        params["ContentType"] = content_type
        if if_absent:
            params["IfNoneMatch"] = "*"
            headers["If-None-Match"] = "*"
        url = self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_s)
        return PresignedPut(url=url, headers=headers)

    def presigned_delete(self, key: str, *, expires_s: int) -> str:
        """A URL that deletes the object with a plain DELETE until it expires."""
        return self.client.generate_presigned_url(
            "delete_object",
            Params={"Bucket": self.bucket, "Key": check_key(key)},
            ExpiresIn=expires_s,
        )

    def get(self, key: str) -> bytes:
        with _s3_errors(check_key(key)):
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except StorageObjectMissing:
            return False
        return True

    def delete(self, key: str) -> None:
        with _s3_errors(check_key(key)):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        with _s3_errors(check_prefix(prefix)):
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
        with _s3_errors(check_key(key)):
            return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]

    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        check_chunk_size(chunk_size)
        with _s3_errors(check_key(key)):
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
                "Key": check_key(key),
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
        # total_max_attempts counts the first request; the dict's max_attempts counts retries
        # only, and sent one request more than asked (two GETs for max_attempts=1).
        retries={"mode": "standard", "total_max_attempts": max_attempts},
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
