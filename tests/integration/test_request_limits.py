"""Request limits before work: body size while streaming, keys before bodies, bounded queries."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from heirloom.api.app import create_app
from heirloom.api.middleware.body_limits import MULTIPART_OVERHEAD
from heirloom.domain.errors import RouteNotFound, UnexpectedError
from tests.conftest import Stack
from tests.harness.serving import serve_app

UPLOAD_LIMIT = 1_000_000
FOUR_GB = 4 * 1024**3
CHUNK = b"\xff" * (64 * 1024)
# Loopback socket buffers on both sides can hold a few MB that neither side ever read.
BUFFER_ALLOWANCE = 16 * 1024 * 1024
BOUNDARY = "heirloomboundary"


@dataclass
class StreamedUpload:
    status: int | None
    body_bytes_sent: int
    response: bytes


@pytest.fixture
def small_limit_api(stack: Stack) -> Iterator[tuple[str, FastAPI]]:
    """The stack's API with a 1 MB upload limit, so a refusal's bound is tight."""
    settings = stack.settings.model_copy(update={"max_upload_bytes": UPLOAD_LIMIT})
    app = create_app(settings, services=stack.services)
    with serve_app(app) as url:
        yield url, app


def stream_upload(url: str, api_key: str | None, total: int) -> StreamedUpload:
    """POST a chunked multipart upload of `total` photo bytes over a raw socket.

    Stops sending as soon as the server answers or closes; counts the body bytes sent.
    """
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
    auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""
    head = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}"
        "Transfer-Encoding: chunked\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
    )
    preamble = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="operations"\r\n\r\nrestore\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    sent = 0
    with sock:
        try:
            sock.sendall(head.encode())
            sock.sendall(b"%x\r\n%s\r\n" % (len(preamble), preamble))
            while sent < total:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
                sent += len(CHUNK)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = b""
        try:
            while chunk := sock.recv(65536):
                response += chunk
        except ConnectionResetError:
            pass
    status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None
    return StreamedUpload(status, sent, response)


def test_a_4gb_chunked_upload_with_a_valid_key_stops_at_the_limit(
    stack: Stack, small_limit_api: tuple[str, FastAPI]
) -> None:
    url, _ = small_limit_api
    _, key = stack.new_user(credits=20)
    upload = stream_upload(url, key, FOUR_GB)
    assert upload.status == 413, upload.response[:300]
    assert b'"image_too_large"' in upload.response
    assert upload.body_bytes_sent < UPLOAD_LIMIT + MULTIPART_OVERHEAD + BUFFER_ALLOWANCE
    with stack.client(key) as client:
        assert client.get("/v1/jobs").json()["jobs"] == []
        assert client.get("/v1/me").json()["balance"] == 20


@pytest.mark.parametrize("api_key", [None, "hl_not-a-key"], ids=["no key", "bad key"])
def test_a_4gb_chunked_upload_without_a_valid_key_is_refused_before_its_body(
    small_limit_api: tuple[str, FastAPI], api_key: str | None
) -> None:
    url, _ = small_limit_api
    upload = stream_upload(url, api_key, FOUR_GB)
    assert upload.status == 401, upload.response[:300]
    assert b'"unauthorized"' in upload.response
    # Nothing of the body is needed to refuse: only what the socket buffers took got through.
    assert upload.body_bytes_sent < BUFFER_ALLOWANCE


def declare_and_wait(url: str, api_key: str | None, length: int) -> bytes:
    """Send only the headers of a POST declaring `length` body bytes; return the answer."""
    parts = urlsplit(url)
    auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""
    head = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}Content-Length: {length}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        sock.sendall(head.encode())
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    return response


@pytest.mark.parametrize("with_key", [True, False], ids=["valid key", "no key"])
def test_a_declared_length_over_the_limit_is_refused_before_any_body_byte(
    stack: Stack, small_limit_api: tuple[str, FastAPI], with_key: bool
) -> None:
    url, _ = small_limit_api
    key = stack.new_user(credits=20)[1] if with_key else None
    # No body byte is ever sent: an answer at all proves the server did not wait for one.
    response = declare_and_wait(url, key, FOUR_GB)
    if with_key:
        assert response.startswith(b"HTTP/1.1 413 "), response[:300]
        assert b'"image_too_large"' in response
    else:
        assert response.startswith(b"HTTP/1.1 401 "), response[:300]


def test_admin_json_bodies_are_bounded_too(stack: Stack) -> None:
    with stack.client(stack.admin_key) as admin:
        response = admin.post(
            "/v1/admin/users",
            content=b'{"email": "' + b"a" * 200_000 + b'@example.com"}',
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/jobs", {"offset": "860000547813615075328"}),
        ("/v1/jobs", {"offset": "-1"}),
        ("/v1/jobs", {"limit": "99999999999999999999999"}),
        ("/v1/jobs", {"limit": "ten"}),
        ("/v1/me/credits", {"before_id": "860000547813615075328"}),
        ("/v1/me/credits", {"limit": "0"}),
        ("/v1/me/credits", {"before_id": "0"}),
    ],
)
def test_out_of_range_query_parameters_are_422_with_the_error_body(
    stack: Stack, path: str, params: dict[str, str]
) -> None:
    _, key = stack.new_user(credits=0)
    with stack.client(key) as client:
        response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert next(iter(params)) in error["message"]


@pytest.mark.parametrize("path", ["/v1/jobs/%00", "/v1/jobs?offset=%00", "/v1/jobs/a%00b/result"])
def test_nul_bytes_in_the_address_are_422_on_every_database(stack: Stack, path: str) -> None:
    _, key = stack.new_user(credits=0)
    with stack.client(key) as client:
        response = client.get(path)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


def test_unknown_routes_and_methods_answer_in_the_taxonomys_words(stack: Stack) -> None:
    with stack.client() as client:
        missing = client.get("/v1/nothing-here")
        wrong_method = client.delete("/v1/pricing")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "not_found",
        "message": RouteNotFound.default_message,
    }
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


def test_an_unexpected_failure_on_a_route_that_charges_nothing_does_not_promise_refunds(
    stack: Stack,
) -> None:
    app = create_app(stack.settings, services=stack.services)

    @app.get("/v1/explode")
    def explode() -> None:
        raise RuntimeError("database host db.internal:5432 said no")

    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        response = client.get("/v1/explode")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error == {"code": "internal_error", "message": UnexpectedError.default_message}
    assert "refund" not in error["message"]
