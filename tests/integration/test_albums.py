"""Albums: many photos, one set of operations, each photo a job of its own. All or nothing up
front (402 says how many credits are missing), one event stream ending in `album.completed`,
a ZIP of the results and a share page with every before/after."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from temporalio.client import Client
from temporalio.service import RPCError

from heirloom.activities.reconcile import ReconcileActivities
from heirloom.domain.messages import StrandedQuery
from heirloom.domain.tiers import Tier
from tests.conftest import Stack
from tests.support import balance, ledger_rows, photo_bytes

PHOTOS = 20
PRICE = 2  # restore


def album_files(count: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    """`count` small, different photos as multipart `files` parts."""
    return [
        ("files", (f"photo-{n}.jpg", photo_bytes(64, 48, seed=100 + n), "image/jpeg"))
        for n in range(count)
    ]


def post_album(client: httpx.Client, count: int, operations: str = "restore") -> httpx.Response:
    return client.post("/v1/albums", files=album_files(count), data={"operations": operations})


def read_stream(client: httpx.Client, url: str) -> list[dict[str, Any]]:
    """Every event of a stream until the server ends it."""
    events: list[dict[str, Any]] = []
    with connect_sse(client, "GET", url, timeout=180) as source:
        assert source.response.status_code == 200
        for sse in source.iter_sse():
            # httpx-sse reads a CRLF split across two chunks as two line ends, and so hands out
            # an event without data now and then (seen under load); every real one has JSON.
            if sse.data:
                events.append(json.loads(sse.data))
    return events


def test_an_album_beyond_the_balance_is_refused_naming_the_missing_credits(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=PRICE * (PHOTOS - 1))
    with stack.client(key) as client:
        refused = post_album(client, PHOTOS)
        assert refused.status_code == 402, refused.text
        error = refused.json()["error"]
        assert error["code"] == "insufficient_credits"
        assert error["details"]["missing"] == PRICE
        assert f"{PRICE} credits are missing" in error["message"]
        assert balance(client) == PRICE * (PHOTOS - 1)
        assert client.get("/v1/jobs").json()["jobs"] == []


@pytest.fixture
def webhook_receiver() -> Iterator[str]:
    """A loopback endpoint answering 200 to every delivery; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()
    server.server_close()


def test_an_album_of_twenty_completes_with_one_stream_a_zip_and_a_share_page(
    stack: Stack, webhook_receiver: str
) -> None:
    user_id, key = stack.new_user(tier=Tier.PAID, credits=PRICE * PHOTOS)
    with stack.client(key) as client:
        hook = client.put(
            "/v1/me/webhook", json={"url": webhook_receiver, "events": ["album.completed"]}
        )
        assert hook.status_code == 200, hook.text
        created = post_album(client, PHOTOS)
        assert created.status_code == 202, created.text
        album = created.json()
        assert (album["photos"], album["credits_charged"]) == (PHOTOS, PRICE * PHOTOS)
        assert balance(client) == 0
        job_ids = [job["id"] for job in album["jobs"]]
        assert all(job["album_id"] == album["id"] for job in album["jobs"])
        assert len(set(job_ids)) == PHOTOS

        events = read_stream(client, album["events_url"])
        assert events[-1]["type"] == "album.completed"
        completed = [e["job"]["id"] for e in events[:-1] if e["type"] == "job.completed"]
        assert sorted(completed) == sorted(job_ids)
        assert all(e["job"]["id"] in job_ids for e in events[:-1])
        assert events[-1]["album"]["counts"]["completed"] == PHOTOS

        done = client.get(f"/v1/albums/{album['id']}").json()
        assert done["status"] == "completed"
        assert done["counts"]["completed"] == PHOTOS
        for job_id in job_ids:
            assert ledger_rows(stack.services, job_id) == [("reserve", -PRICE)]
        owed = stack.services.webhooks.deliveries(user_id, limit=10, before_id=None)
        assert [(d.type, d.job_id) for d in owed] == [("album.completed", album["id"])]

        zipped = client.get(done["zip_url"])
        assert zipped.status_code == 200
        with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
            names = archive.namelist()
        assert len(names) == PHOTOS
        assert [name.split("-", 1)[1] for name in names] == [f"{j}.jpg" for j in job_ids]

        shared = client.post(f"/v1/albums/{album['id']}/shares")
        assert shared.status_code == 201
        url = shared.json()["url"]
    with httpx.Client(base_url=str(client.base_url)) as anonymous:
        page = anonymous.get(url)
        assert page.status_code == 200
        assert page.text.count("<figure>") == PHOTOS
        photo = anonymous.get(f"{url}/photos/{job_ids[0]}/comparison")
        assert photo.status_code == 200
        assert photo.headers["content-type"] == "image/jpeg"
        stranger = anonymous.get(f"{url}/photos/{'0' * 32}/comparison")
        assert stranger.status_code == 404
    actions = [entry.action for entry in stack.services.audit.query(user_id)]
    assert {"album_zip", "album_share", "album_share_view", "album_share_comparison"} <= set(
        actions
    )
    # The owner's data export lists the album, never its share token's hash.
    exporter = stack.services.exporter
    built = exporter.build(user_id, exporter.request(user_id, daily_limit=5).id, valid_s=60)
    with zipfile.ZipFile(io.BytesIO(stack.services.storage.get(built.key))) as archive:
        exported = json.loads(archive.read("albums.json"))
    assert [a["id"] for a in exported] == [album["id"]]
    assert "share_token_hash" not in exported[0]


def test_a_bad_photo_refuses_the_whole_album_and_names_it(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=100)
    files = [*album_files(2), ("files", ("notes.txt", b"not a photo at all" * 4, "text/plain"))]
    with stack.client(key) as client:
        refused = client.post("/v1/albums", files=files, data={"operations": "restore"})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["details"]["photo"] == 3
        assert balance(client) == 100
        assert client.get("/v1/jobs").json()["jobs"] == []


def test_reconciliation_leaves_photos_waiting_for_their_album_alone(faults: Stack) -> None:
    """Photos beyond the album's bound have a charged job and no run yet: while the album's run
    lives they are not stranded, and they are restored in their turn."""
    stack = faults
    photos = stack.settings.album_parallel_jobs + 2
    stack.set_faults(execution_ms=1500)
    _, key = stack.new_user(tier=Tier.PAID, credits=PRICE * photos)
    with stack.client(key) as client:
        created = post_album(client, photos)
        assert created.status_code == 202, created.text
        album = created.json()
        waiting = [job["id"] for job in album["jobs"]][-2:]

        async def check() -> tuple[list[str], list[bool]]:
            temporal = await Client.connect(
                stack.settings.temporal_address, namespace=stack.settings.temporal_namespace
            )
            reconcile = ReconcileActivities(stack.services, temporal)
            page = await reconcile.find_stranded(StrandedQuery(time.time() + 60, "", 10_000))
            started = []
            for job_id in waiting:
                try:
                    await temporal.get_workflow_handle(job_id).describe()
                    started.append(True)
                except RPCError:
                    started.append(False)
            return page.stranded, started

        stranded, started = asyncio.run(check())
        assert not set(waiting) & set(stranded)
        assert started == [False, False]  # their runs had not started: the album's run counted
        stack.set_faults()
        events = read_stream(client, album["events_url"])
        assert events[-1]["album"]["counts"]["completed"] == photos
