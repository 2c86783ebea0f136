"""Webhook deliveries stay bounded: the connection goes to the checked address (no DNS
rebinding), and a receiver's answer costs the worker a few KiB whatever its size."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlmodel import col, select

from heirloom.db.models import JobEvent, WebhookDelivery
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.events.pinning import post_bounded, resolve_target
from heirloom.services.events.webhooks import Webhooks, enqueue

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


# Run in a fresh interpreter so its peak RSS is the delivery's alone: warm up with a small
# answer, then deliver to the huge one; print the peak's growth in KiB and what was kept.
_MEASURE = """
import json, resource, sys
from heirloom.services.events.pinning import post_bounded, resolve_target
small, huge = sys.argv[1], sys.argv[2]
def deliver(url):
    target = resolve_target(url, allow_private=True, resolver=lambda h, p: ["127.0.0.1"])
    return post_bounded(target, b"{}", {"Content-Type": "application/json"}, deadline_s=30)
deliver(small)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
answer = deliver(huge)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_kib": after - before, "status": answer.status, "kept": len(answer.kept)}))
"""


def test_a_300_mib_answer_raises_the_senders_memory_by_under_10_mb() -> None:
    small = Receiver("127.0.0.1", answer_bytes=10)
    huge = Receiver("127.0.0.1", answer_bytes=300 * MiB)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _MEASURE,
                f"http://hooks.example.com:{small.port}/",
                f"http://hooks.example.com:{huge.port}/",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    finally:
        small.close()
        huge.close()
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"peak RSS growth delivering a 300 MiB answer: {measured['growth_kib']} KiB")
    assert measured["status"] == 200
    assert measured["kept"] == 4096
    assert measured["growth_kib"] < 10 * 1024
