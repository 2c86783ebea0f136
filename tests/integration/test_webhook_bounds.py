"""Webhook deliveries stay bounded: the connection goes to the checked address (no DNS
rebinding), and a receiver's answer costs the worker a few KiB whatever its size."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlmodel import col, select

from heirloom.db.models import JobEvent, WebhookDelivery
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.events.pinning import post_bounded, resolve_target
from heirloom.services.events.webhooks import Webhooks, enqueue
from tests.harness.peak_memory import PRELUDE

MiB = 1024 * 1024


class Receiver:
    """Counts the requests it gets on one address; answers `answer_bytes` of body."""

    def __init__(self, host: str, port: int = 0, answer_bytes: int = 0) -> None:
        self.requests: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(dict(self.headers.items()))
                self.send_response(200)
                self.send_header("Content-Length", str(answer_bytes))
                self.end_headers()
                chunk = b"x" * MiB
                sent = 0
                try:
                    while sent < answer_bytes:
                        self.wfile.write(chunk[: answer_bytes - sent])
                        sent += len(chunk)
                except OSError:
                    return  # the client hung up: what a bounded reader does

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback() -> Iterator[Receiver]:
    started = Receiver("127.0.0.1")
    yield started
    started.close()


class Rebinding:
    """A resolver we control: answers `first` once, then `later` for every other lookup."""

    def __init__(self, first: str, later: str) -> None:
        self.first, self.later = first, later
        self.calls = 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return [self.first if self.calls == 1 else self.later]


def _owed_delivery(services: Services, webhooks: Webhooks, url: str) -> int:
    """A user whose webhook is `url`, and one job event owed to it: the delivery's id."""
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    user_id = services.accounts.create(email=email, tier=Tier.FREE).user.id
    webhooks.configure(user_id, url, ["job.completed"])
    with services.db.session() as session:
        event = JobEvent(
            job_id=uuid.uuid4().hex,
            user_id=user_id,
            type="job.completed",
            state=json.dumps({"status": "completed"}),
        )
        session.add(event)
        session.flush()
        enqueue(session, event, None)
    with services.db.session() as session:
        delivery = session.exec(
            select(WebhookDelivery).where(col(WebhookDelivery.user_id) == user_id)
        ).one()
        assert delivery.id is not None
        return delivery.id


def _row(services: Services, delivery_id: int) -> WebhookDelivery:
    with services.db.session() as session:
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        return row


def test_a_name_rebound_to_loopback_is_never_connected_to(
    services: Services, loopback: Receiver
) -> None:
    # First public (at registration), then 127.0.0.1: refused at send, nothing connects.
    resolver = Rebinding("93.184.216.34", "127.0.0.1")
    webhooks = Webhooks(
        services.db,
        allow_private=False,
        secret_grace=timedelta(0),
        request_timeout_s=2,
        resolver=resolver,
    )
    delivery_id = _owed_delivery(services, webhooks, f"http://hooks.example.com:{loopback.port}/")
    attempt = webhooks.send(delivery_id)
    assert not attempt.delivered
    assert attempt.status is None
    assert "public addresses" in (attempt.error or "")
    assert loopback.requests == []
    row = _row(services, delivery_id)
    assert row.last_status is None

    # First public at send time, 127.0.0.1 at any later lookup: one lookup, to the public one.
    resolver.calls = 0
    attempt = webhooks.send(delivery_id)
    assert resolver.calls == 1
    assert loopback.requests == []


def test_the_connection_goes_to_the_address_that_was_resolved() -> None:
    # Two receivers on one port, 127.0.0.2 and 127.0.0.1; the name resolves to .2 first.
    pinned = Receiver("127.0.0.2")
    other = Receiver("127.0.0.1", port=pinned.port)
    try:
        resolver = Rebinding("127.0.0.2", "127.0.0.1")
        target = resolve_target(
            f"http://hooks.example.com:{pinned.port}/in", allow_private=True, resolver=resolver
        )
        answer = post_bounded(target, b"{}", {"Content-Type": "application/json"}, deadline_s=5)
        assert answer.status == 200
        assert len(pinned.requests) == 1
        assert pinned.requests[0]["Host"] == f"hooks.example.com:{pinned.port}"
        assert other.requests == []
        assert resolver.calls == 1
    finally:
        pinned.close()
        other.close()


class Trickler:
    """A receiver that answers one byte of its status line every 0.2 s, for up to a minute."""

    ANSWER = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 300

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sent = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.recv(65536)
            try:
                for byte in self.ANSWER:
                    connection.sendall(bytes([byte]))
                    self.sent += 1
                    time.sleep(0.2)
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()


def test_a_receiver_trickling_its_answer_is_cut_at_the_deadline() -> None:
    trickler = Trickler()
    try:
        target = resolve_target(
            f"http://hooks.example.com:{trickler.port}/",
            allow_private=True,
            resolver=lambda h, p: ["127.0.0.1"],
        )
        answer = post_bounded(target, b"{}", {}, deadline_s=1.5)
        sent = trickler.sent
    finally:
        trickler.close()
    # Cut while the receiver was still sending (a byte every 0.2 s for a minute): without the
    # deadline the answer would have completed, 200.
    assert answer.status is None
    assert answer.error == "the receiver did not answer in time"
    assert sent < len(Trickler.ANSWER)


# The worker's code path (Webhooks.send: the delivery's rows, the signature, the POST) in a
# fresh interpreter: a delivery to a small answer first (imports, pools), then the peak RSS is
# reset and the huge one delivered; prints how far the peak rose over the RSS before, in KiB.
_MEASURE = (
    PRELUDE
    + """
from heirloom.config import Settings
from heirloom.services.context import Services
home, url, small, huge = sys.argv[1:]
settings = Settings(home=home, database_url=url, webhook_allow_private_targets=True)
services = Services.build(settings, pool_size=2)
services.webhooks.send(int(small))
reset_peak()
before = status("VmRSS")
attempt = services.webhooks.send(int(huge))
peak = status("VmHWM")
print(json.dumps({"growth_kib": peak - before, "peak_kib": peak, "status": attempt.status}))
"""
)


def test_a_300_mib_answer_raises_the_workers_memory_by_under_10_mb(services: Services) -> None:
    small = Receiver("127.0.0.1", answer_bytes=10)
    huge = Receiver("127.0.0.1", answer_bytes=300 * MiB)
    webhooks = Webhooks(
        services.db, allow_private=True, secret_grace=timedelta(0), request_timeout_s=30
    )
    small_id = _owed_delivery(services, webhooks, f"http://127.0.0.1:{small.port}/")
    huge_id = _owed_delivery(services, webhooks, f"http://127.0.0.1:{huge.port}/")
    settings = services.settings
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _MEASURE,
                str(settings.home),
                str(settings.database_url),
                str(small_id),
                str(huge_id),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        small.close()
        huge.close()
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"peak RSS growth delivering a 300 MiB answer: {measured['growth_kib']} KiB "
        f"(peak {measured['peak_kib']} KiB)"
    )
    assert measured["status"] == 200
    assert _row(services, huge_id).last_status == 200
    assert len(huge.requests) == 1
    assert measured["growth_kib"] < 10 * 1024


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name` and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_https_goes_to_the_checked_address_verifying_the_host_name(tmp_path: Path) -> None:
    cert_file, key_file = _certificate(tmp_path, "hooks.example.com")
    server_names: list[str | None] = []
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    server_context.sni_callback = lambda _sock, name, _ctx: server_names.append(name)
    receiver = Receiver("127.0.0.1")
    receiver.server.socket = server_context.wrap_socket(receiver.server.socket, server_side=True)
    trusted = ssl.create_default_context(cafile=str(cert_file))
    try:
        target = resolve_target(
            f"https://hooks.example.com:{receiver.port}/in",
            allow_private=True,
            resolver=lambda h, p: ["127.0.0.1"],
        )
        assert target.pinned_url.startswith("https://127.0.0.1:")
        answer = post_bounded(target, b"{}", {}, deadline_s=5, ssl_context=trusted)
        assert answer.status == 200
        assert server_names == ["hooks.example.com"]
        assert receiver.requests[0]["Host"] == f"hooks.example.com:{receiver.port}"

        # The certificate must name the host asked for: another name is refused before any
        # request is sent.
        other = resolve_target(
            f"https://other.example.com:{receiver.port}/in",
            allow_private=True,
            resolver=lambda h, p: ["127.0.0.1"],
        )
        refused = post_bounded(other, b"{}", {}, deadline_s=5, ssl_context=trusted)
        assert refused.status is None
        assert refused.error is not None
        assert "could not reach" in refused.error
        assert len(receiver.requests) == 1
    finally:
        receiver.close()
