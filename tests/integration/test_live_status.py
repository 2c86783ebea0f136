"""Live status against the served API: real SSE and WebSocket clients, real jobs."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from httpx_sse import connect_sse
from sqlmodel import col
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from heirloom import cli
from heirloom.db.models import StreamToken, utcnow
from tests.conftest import Stack
from tests.support import photo_bytes, submit

STATUS_ORDER = {"queued": 0, "running": 1, "completed": 2, "failed": 2, "cancelled": 2}


def _read(client: httpx.Client, url: str, **headers: str) -> list[dict[str, Any]]:
    """Every event of a job stream until the server ends it."""
    events: list[dict[str, Any]] = []
    with connect_sse(client, "GET", url, headers=headers, timeout=60) as source:
        assert source.response.status_code == 200
        for sse in source.iter_sse():
            body = json.loads(sse.data)
            assert sse.id == str(body["id"])
            assert sse.event == body["type"]
            events.append(body)
    return events


def _history(client: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    """The job's whole recorded history: a resume from before its first event."""
    return _read(client, f"/v1/jobs/{job_id}/events", **{"Last-Event-ID": "0"})


QUEUE_PLACE = ("queue_position", "estimated_start_at", "estimated_finish_at")


def _recorded(event: dict[str, Any]) -> dict[str, Any]:
    """An event as recorded: without the queue place added as it is sent."""
    job = {k: v for k, v in event["job"].items() if k not in QUEUE_PLACE}
    return {**event, "job": job}


def _assert_ordered(events: list[dict[str, Any]]) -> None:
    ids = [e["id"] for e in events]
    assert ids == sorted(set(ids)), ids
    statuses = [STATUS_ORDER[e["job"]["status"]] for e in events]
    assert statuses == sorted(statuses), [e["job"]["status"] for e in events]
    progress = [e["job"]["progress"] for e in events]
    assert progress == sorted(progress), progress


def _new_job(stack: Stack, key: str, *, execution_ms: int) -> str:
    stack.set_faults(execution_ms=execution_ms)
    with stack.client(key) as client:
        response = submit(client, photo_bytes(seed=7))
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def test_completed_job_streams_snapshot_then_changes_and_ends(faults: Stack) -> None:
    _, key = faults.new_user(credits=20)
    job_id = _new_job(faults, key, execution_ms=600)
    with faults.client(key) as client:
        live = _read(client, f"/v1/jobs/{job_id}/events")
        history = _history(client, job_id)
    assert live[0]["type"] == "snapshot"
    assert live[-1]["type"] == "job.completed"
    assert live[-1]["job"]["result_url"] == f"/v1/jobs/{job_id}/result"
    _assert_ordered(live)
    types = [e["type"] for e in history]
    assert types[0] == "job.queued"
    assert types[-1] == "job.completed"
    assert types.index("job.started") == 1
    assert types.count("job.started") == 1
    assert {"preparing", "processing", "postprocessing"} <= {e["job"]["stage"] for e in history}
    _assert_ordered(history)
    # What the live stream saw after its snapshot is exactly the recorded history's tail.
    assert [e["id"] for e in live[1:]] == [e["id"] for e in history if e["id"] > live[0]["id"]]


def test_failed_job_streams_refund_then_failure(faults: Stack) -> None:
    _, key = faults.new_user(credits=20)
    faults.set_faults(failed=1.0)
    with faults.client(key) as client:
        response = submit(client, photo_bytes(seed=8))
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        live = _read(client, f"/v1/jobs/{job_id}/events")
        history = _history(client, job_id)
    assert live[-1]["type"] == "job.failed"
    final = history[-1]
    assert final["type"] == "job.failed"
    assert final["job"]["error"]["code"]
    assert final["job"]["credits_refunded"] > 0
    assert final["job"]["result_url"] is None
    assert [e["type"] for e in history][-2:] == ["job.refunded", "job.failed"]
    _assert_ordered(history)


def test_cancelled_job_stream_ends_cancelled(faults: Stack) -> None:
    _, key = faults.new_user(credits=20)
    job_id = _new_job(faults, key, execution_ms=30_000)
    cancelled = False
    seen: list[dict[str, Any]] = []
    with (
        faults.client(key) as client,
        connect_sse(client, "GET", f"/v1/jobs/{job_id}/events", timeout=60) as source,
    ):
        for sse in source.iter_sse():
            event = json.loads(sse.data)
            seen.append(event)
            if event["job"]["stage"] == "processing" and not cancelled:
                cancelled = client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
                assert cancelled
    assert seen[-1]["type"] == "job.cancelled"
    assert seen[-1]["job"]["status"] == "cancelled"
    assert seen[-1]["job"]["credits_refunded"] > 0
    _assert_ordered(seen)


def test_reconnect_with_last_event_id_loses_nothing(faults: Stack) -> None:
    _, key = faults.new_user(credits=20)
    job_id = _new_job(faults, key, execution_ms=1500)
    url = f"/v1/jobs/{job_id}/events"
    with faults.client(key) as client:
        with connect_sse(client, "GET", url, timeout=60) as source:
            events = source.iter_sse()
            first = [json.loads(next(events).data), json.loads(next(events).data)]
        assert first[-1]["type"] != "job.completed", "the job ended before the disconnect"
        rest = _read(client, url, **{"Last-Event-ID": str(first[-1]["id"])})
        history = _history(client, job_id)
    assert rest[0]["type"] != "snapshot"
    assert rest[-1]["type"] == "job.completed"
    missed = [e for e in history if e["id"] > first[-1]["id"]]
    assert rest == missed


def test_all_jobs_stream_follows_every_job_of_the_caller(faults: Stack) -> None:
    _, key = faults.new_user(credits=20)
    faults.set_faults()
    other_id, other_key = faults.new_user(credits=20)
    finished: set[str] = set()
    seen: list[dict[str, Any]] = []
    with (
        faults.client(key) as client,
        faults.client(other_key) as other,
        connect_sse(client, "GET", "/v1/events", timeout=60) as source,
    ):
        events = source.iter_sse()
        snapshot = json.loads(next(events).data)
        assert snapshot["type"] == "snapshot"
        assert snapshot["jobs"] == []
        assert submit(other, photo_bytes(seed=3)).status_code == 202
        mine = [submit(client, photo_bytes(seed=s)).json()["id"] for s in (4, 5)]
        for sse in events:
            body = json.loads(sse.data)
            seen.append(body)
            if body["type"] == "job.completed":
                finished.add(body["job"]["id"])
            if finished == set(mine):
                break
    assert {e["job"]["id"] for e in seen} == set(mine)
    assert other_id not in json.dumps(seen)


def test_another_users_job_is_refused_on_every_stream(faults: Stack) -> None:
    _, owner_key = faults.new_user(credits=20)
    _, stranger_key = faults.new_user(credits=20)
    job_id = _new_job(faults, owner_key, execution_ms=0)
    with faults.client(stranger_key) as stranger:
        response = stranger.get(f"/v1/jobs/{job_id}/events")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        # No token for another user's job; one for the stranger's own /v1/events opens nothing else.
        assert stranger.post("/v1/stream-tokens", json={"job_id": job_id}).status_code == 404
        token = stranger.post("/v1/stream-tokens").json()["token"]
    assert httpx.get(f"{faults.api_url}/v1/jobs/{job_id}/events").status_code == 401
    ws = faults.api_url.replace("http", "ws", 1)
    refusals = [
        ws_refusal(f"{ws}/v1/jobs/{job_id}/ws", {"Authorization": f"Bearer {stranger_key}"}),
        ws_refusal(f"{ws}/v1/jobs/{job_id}/ws?token={token}", {}),
    ]
    assert [(status, body["error"]["code"]) for status, body in refusals] == [
        (404, "not_found"),
        (401, "unauthorized"),
    ]


def ws_refusal(url: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The HTTP answer of a WebSocket handshake the server refused: its status and body."""
    with (
        pytest.raises(InvalidStatus) as refused,
        ws_connect(url, additional_headers=headers, open_timeout=30),
    ):
        pass
    response = refused.value.response
    return response.status_code, json.loads(response.body or b"{}")


def _ws_messages(url: str, headers: dict[str, str]) -> tuple[list[dict[str, Any]], int | None]:
    """Every message of a WebSocket until the server closes it, and its close code."""
    messages: list[dict[str, Any]] = []
    with ws_connect(url, additional_headers=headers, open_timeout=30) as socket:
        try:
            while True:
                messages.append(json.loads(socket.recv(timeout=60)))
        except ConnectionClosed as closed:
            return messages, closed.rcvd.code if closed.rcvd else None


def test_websocket_with_stream_token_follows_job_and_closes_after_final_state(
    faults: Stack,
) -> None:
    _, key = faults.new_user(credits=20)
    job_id = _new_job(faults, key, execution_ms=600)
    with faults.client(key) as client:
        issued = client.post("/v1/stream-tokens", json={"job_id": job_id})
        assert issued.status_code == 201
        assert issued.json()["job_id"] == job_id
        token = issued.json()["token"]
        history = _history(client, job_id)
    ws = faults.api_url.replace("http", "ws", 1)
    messages, code = _ws_messages(f"{ws}/v1/jobs/{job_id}/ws?token={token}", {})
    assert code == 1000
    assert messages[-1]["type"] in ("snapshot", "job.completed")
    assert messages[-1]["job"]["status"] == "completed"
    # The resume token is the last id seen: resuming mid-history replays exactly the rest.
    middle = history[len(history) // 2]["id"]
    resumed, code = _ws_messages(
        f"{ws}/v1/jobs/{job_id}/ws?after={middle}", {"Authorization": f"Bearer {key}"}
    )
    assert code == 1000
    assert resumed == [e for e in history if e["id"] > middle]


def test_expired_or_unknown_stream_token_is_refused(faults: Stack) -> None:
    _, key = faults.new_user(credits=20)
    job_id = _new_job(faults, key, execution_ms=0)
    with faults.client(key) as client:
        token = client.post("/v1/stream-tokens", json={"job_id": job_id}).json()["token"]
        expired = client.post("/v1/stream-tokens", json={"job_id": job_id}).json()["token"]
    with faults.services.db.session() as session:
        # Expire one token as the clock would, without waiting for it.
        session.execute(
            sa.update(StreamToken)
            .where(col(StreamToken.token_hash) == _token_hash(expired))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    ws = faults.api_url.replace("http", "ws", 1)
    assert ws_refusal(f"{ws}/v1/jobs/{job_id}/ws?token={expired}", {})[0] == 401
    assert ws_refusal(f"{ws}/v1/jobs/{job_id}/ws?token=st_forged", {})[0] == 401
    sse = f"{faults.api_url}/v1/jobs/{job_id}/events"
    assert httpx.get(sse, params={"token": expired}).status_code == 401
    # The live token works for the browser's EventSource too (no header there either).
    with httpx.Client(base_url=faults.api_url) as anonymous:
        events = _read(anonymous, f"/v1/jobs/{job_id}/events?token={token}")
    assert events[-1]["job"]["status"] == "completed"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_cli_submit_wait_and_watch_follow_the_stream(
    faults: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, key = faults.new_user(credits=20)
    faults.set_faults(execution_ms=300)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(photo_bytes(seed=21))
    out = tmp_path / "restored.jpg"
    common = ["--api-url", faults.api_url, "--api-key", key]
    assert cli.main(["submit", str(photo), "--out", str(out), *common]) == 0
    printed = capsys.readouterr().out
    job_id = printed.split()[1].rstrip(":")
    assert out.read_bytes()[:2] == b"\xff\xd8"
    # Watching an ended job: the stream gives its final state at once.
    assert cli.main(["watch", job_id, *common]) == 0
    assert f"job {job_id} completed" in capsys.readouterr().out
    faults.set_faults(failed=1.0)
    with faults.client(key) as client:
        failed_id = submit(client, photo_bytes(seed=22)).json()["id"]
    assert cli.main(["watch", failed_id, *common]) == 1
    assert f"job {failed_id} failed" in capsys.readouterr().out


def test_all_jobs_stream_resumes_after_last_event_id(faults: Stack) -> None:
    _, key = faults.new_user(credits=20)
    first = _new_job(faults, key, execution_ms=0)
    second = _new_job(faults, key, execution_ms=0)
    with faults.client(key) as client:
        histories = [_history(client, first), _history(client, second)]
        expected = sorted((e for h in histories for e in h), key=lambda e: e["id"])
        resume = {"Last-Event-ID": str(expected[0]["id"] - 1)}
        replayed: list[dict[str, Any]] = []
        with connect_sse(client, "GET", "/v1/events", headers=resume, timeout=60) as source:
            for sse in source.iter_sse():
                replayed.append(json.loads(sse.data))
                if len(replayed) == len(expected):
                    break
    # A waiting job's queue place is computed when an event is sent, not recorded with it: a
    # read while the job waited has it, a later replay of the same event does not.
    assert [_recorded(e) for e in replayed] == [_recorded(e) for e in expected]
