"""Signed webhooks against a receiver started by the test, through the real worker."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from temporalio.client import Client

from heirloom.activities.webhooks import delivery_workflow_id
from heirloom.domain.errors import InvalidRequest
from heirloom.domain.task_queues import OPS_TASK_QUEUE
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.events.webhooks import Webhooks
from heirloom.worker.schedules import webhook_dispatch_input
from heirloom.workflows.webhooks import WebhookDeliveryWorkflow, WebhookDispatchWorkflow
from tests.conftest import Stack
from tests.support import photo_bytes, submit, wait_final, wait_until


class Receiver:
    """An HTTP endpoint that records every request and answers from a script of statuses."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers.items()), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/heirloom"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    statuses = list(getattr(request, "param", []))
    started = Receiver(statuses)
    yield started
    started.close()


def _verify(headers: dict[str, str], body: bytes, secret: str) -> bool:
    """What a receiver does: recompute HMAC-SHA256 over "<t>.<body>" and compare."""
    parts = [p.split("=", 1) for p in headers["Heirloom-Signature"].split(",")]
    timestamp = next(v for k, v in parts if k == "t")
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in parts if k == "v1")


def _deliver_owed(stack: Stack, user_id: str) -> list[bool]:
    """Run one dispatcher pass (the Schedule's action, with quick retries) and wait for the
    user's delivery runs to end; their results: delivered or not."""

    async def run() -> list[bool]:
        client = await Client.connect(
            stack.settings.temporal_address, namespace=stack.settings.temporal_namespace
        )
        settings = stack.settings.model_copy(
            update={"webhook_retry_first_s": 0.2, "webhook_retry_longest_s": 1.0}
        )
        await client.execute_workflow(
            WebhookDispatchWorkflow.run,
            webhook_dispatch_input(settings),
            id=f"test-dispatch-{uuid.uuid4().hex}",
            task_queue=OPS_TASK_QUEUE,
            execution_timeout=timedelta(seconds=60),
        )
        rows = stack.services.webhooks.deliveries(user_id, limit=200, before_id=None)
        handles = [
            client.get_workflow_handle_for(
                WebhookDeliveryWorkflow.run, delivery_workflow_id(row.id or 0, row.run)
            )
            for row in rows
        ]
        async with asyncio.timeout(120):
            return [await handle.result() for handle in handles]

    return asyncio.run(run())


def _completed_job_with_webhook(
    stack: Stack, receiver: Receiver, events: list[str]
) -> tuple[str, str, str, str]:
    """A user whose webhook is the receiver, and one completed job: (user, key, secret, job)."""
    user_id, key = stack.new_user(credits=20)
    with stack.client(key) as client:
        answer = client.put("/v1/me/webhook", json={"url": receiver.url, "events": events})
        assert answer.status_code == 200, answer.text
        secret = answer.json()["secret"]
        assert secret
        job_id = submit(client, photo_bytes(seed=11)).json()["id"]
        assert wait_final(client, job_id)["status"] == "completed"
    return user_id, key, secret, job_id


def test_one_signed_delivery_per_event(stack: Stack, receiver: Receiver) -> None:
    user_id, _, secret, job_id = _completed_job_with_webhook(
        stack, receiver, ["job.started", "job.completed"]
    )
    assert _deliver_owed(stack, user_id) == [True, True]
    # A second pass owes nothing: each event is delivered once.
    assert _deliver_owed(stack, user_id) == [True, True]
    assert len(receiver.requests) == 2
    bodies = [json.loads(body) for _, body in receiver.requests]
    assert sorted(b["type"] for b in bodies) == ["job.completed", "job.started"]
    assert {b["job"]["id"] for b in bodies} == {job_id}
    assert len({b["id"] for b in bodies}) == 2
    for headers, body in receiver.requests:
        assert _verify(headers, body, secret)
        assert not _verify(headers, body, "whsec_someone-else")
        assert headers["Heirloom-Event-Id"] == json.loads(body)["id"]
    completed = next(b for b in bodies if b["type"] == "job.completed")
    assert completed["job"]["result_url"] == f"/v1/jobs/{job_id}/result"


def test_a_delivery_leaves_as_its_event_commits_without_any_dispatcher_run(
    stack: Stack, receiver: Receiver
) -> None:
    # The test stack runs no Schedules: only the worker that committed the event starts it.
    # No Schedule and no sweep runs here, so only the commit's own start can deliver it: a
    # delivery at all (within the hang guard) is the verdict, not how many seconds it took.
    user_id, _, secret, job_id = _completed_job_with_webhook(stack, receiver, ["job.completed"])
    wait_until(lambda: receiver.requests, "the delivery started by its event's commit")
    assert len(receiver.requests) == 1
    (delivery,) = stack.services.webhooks.deliveries(user_id, limit=10, before_id=None)
    assert delivery.job_id == job_id
    headers, body = receiver.requests[0]
    assert _verify(headers, body, secret)
    assert json.loads(body)["type"] == "job.completed"


def test_the_sweep_starts_a_delivery_owed_by_a_process_that_started_none(
    stack: Stack, receiver: Receiver
) -> None:
    user_id, _, secret, _ = _completed_job_with_webhook(stack, receiver, ["job.completed"])
    wait_until(lambda: receiver.requests, "the delivery started by its event's commit")
    (delivered,) = stack.services.webhooks.deliveries(user_id, limit=10, before_id=None)
    assert delivered.id is not None
    # A process with no Temporal client (none subscribed to its commits) owes it again, as
    # one that died between the commit and the start would leave it.
    silent = Services.build(stack.settings, pool_size=1)
    try:
        assert silent.webhooks.redeliver(user_id, delivered.id).state == "pending"
    finally:
        silent.close()
    time.sleep(1.0)
    assert len(receiver.requests) == 1  # nobody started it
    assert _deliver_owed(stack, user_id) == [True]  # one pass of the sweep's workflow
    assert len(receiver.requests) == 2
    headers, body = receiver.requests[-1]
    assert headers["Heirloom-Event-Id"] == receiver.requests[0][0]["Heirloom-Event-Id"]
    assert _verify(headers, body, secret)


@pytest.mark.parametrize("receiver", [[500, 500]], indirect=True)
def test_failed_answers_are_retried_until_2xx_then_delivery_stops(
    stack: Stack, receiver: Receiver
) -> None:
    user_id, key, secret, _ = _completed_job_with_webhook(stack, receiver, ["job.completed"])
    assert _deliver_owed(stack, user_id) == [True]
    assert len(receiver.requests) == 3
    assert len({headers["Heirloom-Event-Id"] for headers, _ in receiver.requests}) == 1
    with stack.client(key) as client:
        log = client.get("/v1/me/webhook/deliveries").json()["deliveries"]
        assert len(log) == 1
        assert log[0]["state"] == "delivered"
        assert log[0]["attempts"] == 3
        assert log[0]["last_status"] == 200
        # Rotate, then redeliver: the same event id, signed by the new and the old secret.
        rotated = client.post("/v1/me/webhook/rotate-secret").json()
        assert rotated["secret"] not in (None, secret)
        again = client.post(f"/v1/me/webhook/deliveries/{log[0]['id']}/redeliver")
        assert again.status_code == 202
    assert _deliver_owed(stack, user_id) == [True]
    assert len(receiver.requests) == 4
    headers, body = receiver.requests[-1]
    assert headers["Heirloom-Event-Id"] == receiver.requests[0][0]["Heirloom-Event-Id"]
    assert _verify(headers, body, rotated["secret"])
    assert _verify(headers, body, secret)


def test_private_and_non_http_targets_are_refused_at_registration(services: Services) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    user_id = services.accounts.create(email=email, tier=Tier.FREE).user.id
    guarded = Webhooks(
        services.db, allow_private=False, secret_grace=timedelta(0), request_timeout_s=5
    )
    for url in (
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "ftp://example.com/hook",
        "file:///etc/passwd",
    ):
        with pytest.raises(InvalidRequest):
            guarded.configure(user_id, url, ["job.completed"])
    with pytest.raises(InvalidRequest):
        guarded.configure(user_id, "https://example.com/hook", ["job.exploded"])


def test_registration_through_the_api_refuses_a_non_http_url(stack: Stack) -> None:
    _, key = stack.new_user(credits=0)
    with stack.client(key) as client:
        answer = client.put("/v1/me/webhook", json={"url": "gopher://example.com/x"})
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "invalid_request"
        assert client.get("/v1/me/webhook").json() is None


def test_per_job_callback_url_gets_that_jobs_events_signed(
    stack: Stack, receiver: Receiver
) -> None:
    user_id, key = stack.new_user(credits=20)
    with stack.client(key) as client:
        refused = client.post(
            "/v1/jobs",
            files={"file": ("photo.jpg", photo_bytes(seed=12), "image/jpeg")},
            data={"operations": "restore", "callback_url": receiver.url},
        )
        assert refused.status_code == 400  # no secret to sign with yet
        assert stack.services.credits.balance(user_id) == 20
        secret = client.put("/v1/me/webhook", json={"events": []}).json()["secret"]
        plain = submit(client, photo_bytes(seed=13)).json()["id"]
        answer = client.post(
            "/v1/jobs",
            files={"file": ("photo.jpg", photo_bytes(seed=14), "image/jpeg")},
            data={"operations": "restore", "callback_url": receiver.url},
        )
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        assert wait_final(client, plain)["status"] == "completed"
        assert wait_final(client, job_id)["status"] == "completed"
    assert _deliver_owed(stack, user_id) == [True, True]
    bodies = [json.loads(body) for _, body in receiver.requests]
    assert sorted(b["type"] for b in bodies) == ["job.completed", "job.started"]
    assert {b["job"]["id"] for b in bodies} == {job_id}
    assert all(_verify(headers, body, secret) for headers, body in receiver.requests)
