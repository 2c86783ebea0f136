"""Streams that respect keys: stream tokens bound to one stream and to the key that made them,
open streams closed once their key is revoked, WebSockets authenticated (and limited) before
the handshake, and caps on open streams per user and per process."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.money.credits import NewJob
from tests.conftest import ServedApi
from tests.integration.test_live_status import ws_refusal
from tests.support import wait_until

ServeApi = Callable[..., ServedApi]


def waiting_job(services: Services, user_id: str) -> str:
    """A charged job that no worker will take: its stream stays open."""
    job_id = uuid.uuid4().hex
    original = f"users/{user_id}/jobs/{job_id}/original.jpg"
    services.credits.reserve(NewJob(job_id, user_id, "restore", Tier.FREE, original))
    return job_id


def key_id_of(services: Services, user_id: str, name: str | None = None) -> str:
    [info] = [k for k in services.keys.owned_by(user_id) if name is None or k.name == name]
    return info.id


@contextmanager
def sse(
    api: ServedApi, path: str, api_key: str | None = None
) -> Iterator[Iterator[ServerSentEvent]]:
    """An open event stream's events (keep the iterator: dropping it closes the connection)."""
    with api.client(api_key) as client, connect_sse(client, "GET", path, timeout=30) as source:
        assert source.response.status_code == 200, source.response.read()
        yield source.iter_sse()


@contextmanager
def socket(api: ServedApi, job_id: str, *, key: str = "", token: str = "") -> Iterator[Any]:
    ws = api.url.replace("http", "ws", 1)
    url = f"{ws}/v1/jobs/{job_id}/ws" + (f"?token={token}" if token else "")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with ws_connect(url, additional_headers=headers, open_timeout=30) as connection:
        yield connection


def first_message(connection: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(connection.recv(timeout=30))
    return message


def test_a_stream_token_opens_only_its_stream_and_never_after_its_key_is_revoked(
    serve_api: ServeApi,
) -> None:
    api = serve_api()
    user_id, key = api.new_user()
    job_id = waiting_job(api.services, user_id)
    with api.client(key) as client:
        job_token = client.post("/v1/stream-tokens", json={"job_id": job_id}).json()["token"]
        events_token = client.post("/v1/stream-tokens").json()["token"]
    # Each opens its own stream, and only it.
    with sse(api, f"/v1/events?token={events_token}") as events:
        assert next(events).event == "snapshot"
    with socket(api, job_id, token=job_token) as connection:
        assert first_message(connection)["type"] == "snapshot"
    assert httpx.get(f"{api.url}/v1/jobs/{job_id}/events?token={events_token}").status_code == 401
    assert httpx.get(f"{api.url}/v1/events?token={job_token}").status_code == 401

    api.services.keys.revoke(key_id_of(api.services, user_id), user_id=user_id)
    refused = httpx.get(f"{api.url}/v1/events?token={events_token}")
    assert refused.status_code == 401
    assert "revoked stream token" in refused.json()["error"]["message"]
    sse_refused = httpx.get(f"{api.url}/v1/jobs/{job_id}/events?token={job_token}")
    assert sse_refused.status_code == 401
    ws = api.url.replace("http", "ws", 1)
    status, body = ws_refusal(f"{ws}/v1/jobs/{job_id}/ws?token={job_token}", {})
    assert (status, body["error"]["code"]) == (401, "unauthorized")


def test_open_streams_close_at_a_recheck_once_their_key_is_revoked(
    serve_api: ServeApi,
) -> None:
    recheck_s = 1.0
    api = serve_api(stream_recheck_s=recheck_s)
    user_id, key = api.new_user()
    spare = api.services.keys.create(user_id, "spare").api_key
    streamed_id = key_id_of(api.services, user_id, "default")
    job_id = waiting_job(api.services, user_id)
    with api.client(spare) as spare_client:
        token = spare_client.post("/v1/stream-tokens", json={"job_id": job_id}).json()["token"]
    spare_id = key_id_of(api.services, user_id, "spare")
    with (
        sse(api, "/v1/events", key) as events,
        socket(api, job_id, key=key) as by_key,
        socket(api, job_id, token=token) as by_token,
    ):
        assert next(events).event == "snapshot"
        assert first_message(by_key)["type"] == "snapshot"
        assert first_message(by_token)["type"] == "snapshot"
        # Quiet streams: nothing happens to the job, so only the re-check can end them.
        api.services.keys.revoke(streamed_id, user_id=user_id)
        last = next(events)
        assert last.event == "error"
        assert json.loads(last.data)["error"]["code"] == "unauthorized"
        assert list(events) == []  # and the stream ended
        with pytest.raises(ConnectionClosed) as closed:
            by_key.recv(timeout=30)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
        # The stream a token of the other key opened lives on, until that key is revoked.
        time.sleep(recheck_s * 1.5)
        api.services.keys.revoke(spare_id, user_id=user_id)
        with pytest.raises(ConnectionClosed) as token_closed:
            by_token.recv(timeout=30)
        assert token_closed.value.rcvd is not None
        assert token_closed.value.rcvd.code == 4401


def test_open_streams_past_the_caps_are_refused_with_a_clear_message(serve_api: ServeApi) -> None:
    api = serve_api(stream_max_per_user=2, stream_max_per_process=3)
    first_id, first_key = api.new_user()
    _, second_key = api.new_user()
    _, third_key = api.new_user()
    job_id = waiting_job(api.services, first_id)
    ws = api.url.replace("http", "ws", 1)
    with ExitStack() as held:
        events = held.enter_context(sse(api, "/v1/events", first_key))
        assert next(events).event == "snapshot"
        connection = held.enter_context(socket(api, job_id, key=first_key))
        assert first_message(connection)["type"] == "snapshot"

        with api.client(first_key) as client:
            refused = client.get("/v1/events")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_streams"
        assert "2 live streams open (at most 2)" in refused.json()["error"]["message"]
        assert refused.headers["Retry-After"] == "5"
        status, body = ws_refusal(
            f"{ws}/v1/jobs/{job_id}/ws", {"Authorization": f"Bearer {first_key}"}
        )
        assert (status, body["error"]["code"]) == (429, "too_many_streams")

        others = held.enter_context(sse(api, "/v1/events", second_key))
        assert next(others).event == "snapshot"
        with api.client(third_key) as client:
            full = client.get("/v1/events")
        assert full.status_code == 429
        assert "as many live streams as it can" in full.json()["error"]["message"]

    # Closed streams give their places back.
    def reopens() -> bool:
        with api.client(third_key) as client, client.stream("GET", "/v1/events") as response:
            return response.status_code == 200

    wait_until(reopens, timeout=10, what="a closed stream's place is given back")


def test_websocket_handshakes_spend_the_failed_authentication_budget(
    serve_api: ServeApi,
) -> None:
    api = serve_api(rate_limit_auth_failures="2/minute")
    user_id, _ = api.new_user()
    job_id = waiting_job(api.services, user_id)
    ws = api.url.replace("http", "ws", 1)
    statuses = [ws_refusal(f"{ws}/v1/jobs/{job_id}/ws?token=st_guess{n}", {})[0] for n in range(3)]
    assert statuses == [401, 401, 429]
    # The address is out of failed-authentication budget: a guessed key is refused over HTTP too.
    assert api.client("hl_guess").get("/v1/me").status_code == 429


def test_job_ids_probed_over_websockets_are_detected_and_suspend_the_key(
    serve_api: ServeApi,
) -> None:
    api = serve_api(abuse_not_found_probe="3/hour", abuse_auto_suspend=True)
    user_id, key = api.new_user()
    ws = api.url.replace("http", "ws", 1)
    auth = {"Authorization": f"Bearer {key}"}
    probes = [ws_refusal(f"{ws}/v1/jobs/{uuid.uuid4().hex}/ws", auth)[0] for _ in range(4)]
    assert probes == [404] * 4
    with api.client(api.admin_key) as admin:
        [signal] = admin.get("/v1/admin/abuse").json()["signals"]
    assert (signal["kind"], signal["user_id"], signal["suspended"]) == (
        "job_id_probing",
        user_id,
        True,
    )
    assert ws_refusal(f"{ws}/v1/jobs/{uuid.uuid4().hex}/ws", auth)[0] == 401
