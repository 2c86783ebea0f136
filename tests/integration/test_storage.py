"""One contract for both storage backends: local disk, and S3 spoken to a real moto server."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from heirloom.config import Settings
from heirloom.domain.errors import StorageUnavailable
from heirloom.services.storage.backend import make_storage
from heirloom.services.storage.base import Storage, StorageObjectMissing
from heirloom.services.storage.keys import claim_key, job_key, job_prefix
from heirloom.services.storage.local import LocalStorage
from heirloom.services.storage.s3 import S3Storage

KEY = job_key("u1", "j1", "original", "jpg")


def _s3_storage(endpoint: str) -> S3Storage:
    storage = S3Storage(
        bucket=f"heirloom-test-{uuid.uuid4().hex[:12]}", endpoint_url=endpoint, region="us-east-1"
    )
    storage.ensure_bucket()
    return storage


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """Each backend in turn, empty."""
    if request.param == "local":
        return LocalStorage(tmp_path / "storage")
    return _s3_storage(request.getfixturevalue("s3_endpoint"))


# --- the contract ------------------------------------------------------------------------


def test_put_then_get_returns_the_same_bytes(storage: Storage) -> None:
    storage.put(KEY, b"photo bytes", content_type="image/jpeg")

    assert storage.get(KEY) == b"photo bytes"
    assert storage.exists(KEY)
    assert storage.size(KEY) == len(b"photo bytes")


def test_empty_object_is_an_object(storage: Storage) -> None:
    storage.put(KEY, b"", content_type="image/jpeg")

    assert storage.exists(KEY)
    assert storage.get(KEY) == b""
    assert storage.size(KEY) == 0


def test_put_overwrites_an_existing_object(storage: Storage) -> None:
    storage.put(KEY, b"first version, longer", content_type="image/jpeg")
    storage.put(KEY, b"second", content_type="image/jpeg")

    assert storage.get(KEY) == b"second"
    assert storage.size(KEY) == len(b"second")


def test_missing_object_raises_storage_object_missing(storage: Storage) -> None:
    assert not storage.exists(KEY)
    with pytest.raises(StorageObjectMissing) as excinfo:
        storage.get(KEY)
    assert excinfo.value.key == KEY
    with pytest.raises(StorageObjectMissing):
        storage.size(KEY)
    with pytest.raises(StorageObjectMissing):
        storage.iter_chunks(KEY)  # raises before iteration, so a download can still 404


def test_a_prefix_of_stored_keys_is_not_an_object(storage: Storage) -> None:
    storage.put(KEY, b"x", content_type="image/jpeg")
    directory = job_prefix("u1", "j1").rstrip("/")

    assert not storage.exists(directory)
    with pytest.raises(StorageObjectMissing):
        storage.get(directory)
    with pytest.raises(StorageObjectMissing):
        storage.get(f"{KEY}/below")


def test_delete_removes_the_object_and_is_idempotent(storage: Storage) -> None:
    storage.put(KEY, b"x", content_type="image/jpeg")

    storage.delete(KEY)
    storage.delete(KEY)

    assert not storage.exists(KEY)


def test_delete_prefix_removes_one_job_and_counts_it(storage: Storage) -> None:
    mine = [job_key("u1", "j1", kind, "png") for kind in ("original", "result", "thumbnail")]
    others = [job_key("u1", "j10", "result", "png"), job_key("u2", "j1", "result", "png")]
    for key in mine + others:
        storage.put(key, b"x", content_type="image/png")

    assert storage.delete_prefix(job_prefix("u1", "j1")) == len(mine)
    assert storage.delete_prefix(job_prefix("u1", "j1")) == 0
    assert not any(storage.exists(key) for key in mine)
    assert all(storage.exists(key) for key in others)


def test_delete_prefix_matches_by_string_prefix_like_s3(storage: Storage) -> None:
    keys = {
        "j1_result": job_key("u1", "j1", "result", "png"),
        "j1_thumbnail": job_key("u1", "j1", "thumbnail", "png"),
        "j10_result": job_key("u1", "j10", "result", "png"),
        "j2_result": job_key("u1", "j2", "result", "png"),
    }
    for key in keys.values():
        storage.put(key, b"x", content_type="image/png")

    assert storage.delete_prefix(f"{job_prefix('u1', 'j1')}res") == 1
    assert storage.delete_prefix("users/u1/jobs/j1") == 2
    assert [name for name, key in keys.items() if storage.exists(key)] == ["j2_result"]
    assert storage.delete_prefix("users/nobody/") == 0


def test_iter_chunks_streams_a_large_object(storage: Storage) -> None:
    data = os.urandom(3 * (1 << 19) + 123)  # ~1.5 MiB, not a multiple of the chunk size
    storage.put(KEY, data, content_type="image/jpeg")

    chunks = list(storage.iter_chunks(KEY, chunk_size=1 << 16))

    assert b"".join(chunks) == data
    assert len(chunks) > 1
    assert max(len(chunk) for chunk in chunks) <= 1 << 16


def test_put_file_stores_a_file_larger_than_one_upload_part(
    storage: Storage, tmp_path: Path
) -> None:
    # 8 MiB parts on S3: this takes two, the second short.
    data = os.urandom(9 * (1 << 20) + 7)
    source = tmp_path / "export.zip"
    source.write_bytes(data)
    with source.open("rb") as f:
        storage.put_file(KEY, f, content_type="application/zip")

    assert storage.size(KEY) == len(data)
    assert storage.get(KEY) == data


def test_readers_never_see_a_partial_object(storage: Storage) -> None:
    versions = [bytes([i]) * (256 * 1024) for i in range(2)]
    storage.put(KEY, versions[0], content_type="image/jpeg")
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            storage.put(KEY, versions[i % 2], content_type="image/jpeg")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen = {storage.get(KEY) for _ in range(40)}
    finally:
        stop.set()
        thread.join()

    assert seen <= set(versions)


def test_create_stores_only_when_the_key_is_free(storage: Storage) -> None:
    assert storage.create(KEY, b"first", content_type="application/json") is True
    assert storage.create(KEY, b"second", content_type="application/json") is False

    assert storage.get(KEY) == b"first"


def test_of_concurrent_creates_exactly_one_wins(storage: Storage) -> None:
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def create(i: int) -> None:
        barrier.wait()
        results.append(storage.create(KEY, f"claim {i}".encode(), content_type="text/plain"))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]
    winner = results.index(True)
    assert storage.get(KEY).startswith(b"claim ")
    assert winner >= 0


BAD_KEYS = [
    "",
    "/etc/passwd",
    "../escape",
    "users/../../escape",
    "users/./x",
    "users//x",
    "users/x/",
    ".hidden",
    "users/.x",
    "users\\x",
    "users/x y",
    "users/é",
    "users/x\n",
    "a" * 1025,
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.put(key, b"x", content_type="image/jpeg")
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.get(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.exists(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.size(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.delete(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.iter_chunks(key)


@pytest.mark.parametrize("prefix", ["", "/", "../", "users/../", "users//", ".x"])
def test_invalid_prefixes_are_refused(storage: Storage, prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid storage prefix"):
        storage.delete_prefix(prefix)


def test_non_positive_chunk_size_is_refused(storage: Storage) -> None:
    storage.put(KEY, b"x", content_type="image/jpeg")
    with pytest.raises(ValueError, match="chunk_size"):
        storage.iter_chunks(KEY, chunk_size=0)


# --- local disk --------------------------------------------------------------------------


def test_local_storage_never_writes_outside_its_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")

    with pytest.raises(ValueError, match="invalid storage key"):
        storage.put("../escape", b"x", content_type="text/plain")
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.put(str(tmp_path / "absolute"), b"x", content_type="text/plain")

    assert list(tmp_path.iterdir()) == []


def test_local_put_leaves_no_temp_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put(KEY, b"x", content_type="image/jpeg")
    storage.put(KEY, b"y", content_type="image/jpeg")

    assert [p.name for p in (tmp_path / job_prefix("u1", "j1")).iterdir()] == ["original.jpg"]


def test_local_delete_prefix_prunes_the_emptied_job_directory(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put(KEY, b"x", content_type="image/jpeg")

    storage.delete_prefix(job_prefix("u1", "j1"))

    assert not (tmp_path / job_prefix("u1", "j1")).exists()


def test_local_disk_failure_is_storage_unavailable(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    storage = LocalStorage(not_a_dir)

    with pytest.raises(StorageUnavailable) as excinfo:
        storage.put(KEY, b"x", content_type="image/jpeg")
    assert excinfo.value.retryable


# --- S3 ----------------------------------------------------------------------------------


def test_s3_keeps_the_content_type(s3_endpoint: str) -> None:
    storage = _s3_storage(s3_endpoint)
    storage.put(KEY, b"x", content_type="image/webp")

    head = storage.client.head_object(Bucket=storage.bucket, Key=KEY)
    assert head["ContentType"] == "image/webp"


def test_s3_delete_prefix_deletes_more_than_one_page(s3_endpoint: str) -> None:
    storage = _s3_storage(s3_endpoint)
    for i in range(1005):
        storage.client.put_object(Bucket=storage.bucket, Key=f"users/u1/jobs/j1/{i}", Body=b"")

    assert storage.delete_prefix("users/u1/") == 1005
    assert storage.client.list_objects_v2(Bucket=storage.bucket).get("KeyCount") == 0


def test_ensure_bucket_is_idempotent(s3_endpoint: str) -> None:
    storage = _s3_storage(s3_endpoint)
    storage.ensure_bucket()
    storage.put(KEY, b"x", content_type="image/jpeg")
    storage.ensure_bucket()

    assert storage.get(KEY) == b"x"


def test_s3_endpoint_refusing_connections_is_storage_unavailable(aws_credentials: None) -> None:
    with socket.socket() as reserved:  # bound but not listening: connections are refused
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]
        storage = S3Storage(
            bucket="heirloom",
            endpoint_url=f"http://127.0.0.1:{port}",
            region="us-east-1",
            connect_timeout_s=0.5,
            read_timeout_s=0.5,
            max_attempts=1,
        )
        with pytest.raises(StorageUnavailable) as excinfo:
            storage.put(KEY, b"x", content_type="image/jpeg")
        for call in (storage.get, storage.exists, storage.size, storage.delete):
            with pytest.raises(StorageUnavailable):
                call(KEY)
        with pytest.raises(StorageUnavailable):
            storage.delete_prefix("users/")

    assert excinfo.value.retryable


def test_s3_endpoint_that_never_answers_is_storage_unavailable(aws_credentials: None) -> None:
    with socket.socket() as silent:  # listening but never accepting: reads time out
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        storage = S3Storage(
            bucket="heirloom",
            endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
            region="us-east-1",
            connect_timeout_s=0.5,
            read_timeout_s=0.3,
            max_attempts=1,
        )
        # The read timeout ends the call (a hang would meet pytest's timeout), and botocore's
        # own retries are off: one connection, one attempt.
        with pytest.raises(StorageUnavailable) as excinfo:
            storage.get(KEY)
        accepted = 0
        silent.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                connection, _ = silent.accept()
                connection.close()
                accepted += 1

    assert excinfo.value.retryable
    assert accepted == 1, f"{accepted} connections for one call"


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("SlowDown", 503, StorageUnavailable),
        ("InternalError", 500, StorageUnavailable),
        ("RequestTimeout", 400, StorageUnavailable),
        ("NoSuchKey", 404, StorageObjectMissing),
        ("AccessDenied", 403, ClientError),
    ],
)
def test_s3_error_responses_are_classified(
    aws_credentials: None, code: str, status: int, expected: type[Exception]
) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    storage = S3Storage(bucket="heirloom", endpoint_url=None, region="us-east-1", client=client)
    with Stubber(client) as stubber:
        stubber.add_client_error("get_object", service_error_code=code, http_status_code=status)
        with pytest.raises(expected):
            storage.get(KEY)


# --- wiring ------------------------------------------------------------------------------


def test_presigned_urls_read_write_and_create_once_with_a_signed_expiry(s3_endpoint: str) -> None:
    storage = _s3_storage(s3_endpoint)
    put = storage.presigned_put(KEY, expires_s=60, content_type="image/png")
    assert httpx.put(put.url, content=b"model output", headers=put.headers).status_code == 200
    assert storage.get(KEY) == b"model output"
    assert httpx.get(storage.presigned_get(KEY, expires_s=60)).content == b"model output"

    claim = claim_key("u1", "j1", 0)
    once = storage.presigned_put(
        claim, expires_s=60, content_type="application/json", if_absent=True
    )
    assert httpx.put(once.url, content=b"a", headers=once.headers).status_code == 200
    assert httpx.put(once.url, content=b"b", headers=once.headers).status_code == 412
    assert storage.get(claim) == b"a"

    # moto does not enforce expiry, so the signed lifetime is what is checked.
    for url in (put.url, once.url, storage.presigned_get(KEY, expires_s=90)):
        assert "X-Amz-Signature=" in url
    assert parse_qs(urlsplit(put.url).query)["X-Amz-Expires"] == ["60"]
    assert "if-none-match" in parse_qs(urlsplit(once.url).query)["X-Amz-SignedHeaders"][0]


def test_make_storage_follows_the_settings(tmp_path: Path, aws_credentials: None) -> None:
    local = make_storage(Settings(storage_backend="local", storage_dir=tmp_path))
    s3 = make_storage(
        Settings(
            storage_backend="s3",
            s3_bucket="photos",
            s3_endpoint_url="http://127.0.0.1:9",
            s3_region="eu-west-1",
        )
    )

    assert isinstance(local, LocalStorage)
    assert local.root == tmp_path.resolve()
    assert isinstance(s3, S3Storage)
    assert s3.bucket == "photos"
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:9"
    assert s3.client.meta.region_name == "eu-west-1"
