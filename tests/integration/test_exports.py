"""Exports as a resource: one building at a time, a daily limit, never started by a GET; the
ZIP holds keys, webhook settings and shares without secrets; erasure wins the race; a large
export is built in bounded memory."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlmodel import col, select
from temporalio.client import Client

from heirloom.db.models import DataExport, Job
from heirloom.domain.errors import Conflict
from heirloom.domain.task_queues import EXPORT_TASK_QUEUE
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.privacy.export import BUILDING, READY, export_key
from heirloom.services.storage.keys import job_key
from heirloom.workflows.export import export_workflow_id
from tests.conftest import ServedApi, Stack
from tests.harness.peak_memory import PRELUDE
from tests.support import photo_bytes, submit, wait_final, wait_until

MiB = 1024 * 1024


def _rows(services: Services, user_id: str) -> list[DataExport]:
    with services.db.session() as session:
        return list(session.exec(select(DataExport).where(col(DataExport.user_id) == user_id)))


def test_one_export_at_a_time_a_daily_limit_and_no_get_starts_one(
    serve_api: Callable[..., ServedApi],
) -> None:
    # The API alone: no worker builds, so the first export stays building.
    api = serve_api(export_daily_limit=2)
    user_id, key = api.new_user()
    other_id, other_key = api.new_user()
    with api.client(key) as client:
        first = client.post("/v1/me/exports")
        assert first.status_code == 202, first.text
        body = first.json()
        assert body["status"] == BUILDING
        assert body["download_url"] is None
        assert client.get(body["status_url"]).json()["status"] == BUILDING

        second = client.post("/v1/me/exports")
        assert second.status_code == 409
        assert "already being built" in second.json()["error"]["message"]

        # The old route started a build on every GET: it is gone, and starts nothing.
        assert client.get("/v1/me/export").status_code == 404
        assert len(_rows(api.services, user_id)) == 1

        # Once it ended (here: failed), another may start; the limit counts both.
        api.services.exporter.fail(body["id"])
        again = client.post("/v1/me/exports")
        assert again.status_code == 202, again.text
        api.services.exporter.fail(again.json()["id"])
        third = client.post("/v1/me/exports")
        assert third.status_code == 429
        error = third.json()["error"]
        assert error["code"] == "rate_limited"
        assert "2 exports in 24 hours" in error["message"]
        assert 0 < int(third.headers["Retry-After"]) <= 86400

        listed = client.get("/v1/me/exports").json()["exports"]
        assert [e["id"] for e in listed] == [again.json()["id"], body["id"]]
        assert {e["status"] for e in listed} == {"failed"}
        gone = client.get(f"{body['status_url']}/download")
        assert gone.status_code == 410
    with api.client(other_key) as client:
        assert client.get(body["status_url"]).status_code == 404
        assert client.get(f"{body['status_url']}/download").status_code == 404
        assert client.get("/v1/me/exports").json()["exports"] == []
        # Another user's export does not hold this one's.
        assert client.post("/v1/me/exports").status_code == 202
    assert len(_rows(api.services, other_id)) == 1


def _ready(client: httpx.Client) -> dict[str, Any]:
    started = client.post("/v1/me/exports")
    assert started.status_code == 202, started.text
    status_url = started.json()["status_url"]

    def ready() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(status_url).json()
        assert body["status"] in (BUILDING, READY), body
        return body if body["status"] == READY else None

    return wait_until(ready, "the export to be ready", interval=0.1)


def _task_queue(stack: Stack, workflow_id: str) -> str:
    async def describe() -> str:
        client = await Client.connect(
            stack.settings.temporal_address, namespace=stack.settings.temporal_namespace
        )
        return (await client.get_workflow_handle(workflow_id).describe()).task_queue

    return asyncio.run(describe())


def test_the_zip_holds_keys_webhook_settings_and_shares_without_secrets(stack: Stack) -> None:
    user_id, key = stack.new_user(tier=Tier.FREE, credits=20)
    with stack.client(key) as client:
        job_id = submit(client, photo_bytes(seed=31)).json()["id"]
        assert wait_final(client, job_id)["status"] == "completed"
        share = client.post(f"/v1/jobs/{job_id}/shares", json={})
        assert share.status_code == 201, share.text
        hook = client.put(
            "/v1/me/webhook", json={"url": "https://hooks.example.com/x", "events": []}
        )
        # The stack allows private targets only; a public name may not resolve offline.
        if hook.status_code != 200:
            hook = client.put("/v1/me/webhook", json={"events": []})
        assert hook.status_code == 200, hook.text
        secret = hook.json()["secret"]

        export = _ready(client)
        assert export["size_bytes"] > 0
        # Built on the export queue: the operations queue's slots never held it.
        assert _task_queue(stack, export_workflow_id(user_id, export["id"])) == EXPORT_TASK_QUEUE
        response = client.get(export["download_url"])
        assert response.status_code == 200
    raw = response.content
    archive = zipfile.ZipFile(io.BytesIO(raw))
    names = set(archive.namelist())
    assert {"api_keys.json", "shares.json", "webhook.json", "jobs.json"} <= names
    keys = json.loads(archive.read("api_keys.json"))
    assert keys
    assert all("key_hash" not in k and k["prefix"] and k["name"] for k in keys)
    shares = json.loads(archive.read("shares.json"))
    assert [s["job_id"] for s in shares] == [job_id]
    assert "token_hash" not in shares[0]
    webhook = json.loads(archive.read("webhook.json"))
    assert webhook["user_id"] == user_id
    assert "secret" not in webhook
    assert "previous_secret" not in webhook
    # No secret anywhere in the archive: not the webhook's, not the API key's.
    assert secret.encode() not in raw
    assert key.encode() not in raw
    assert any(name.startswith(f"photos/{job_id}/") for name in names)


def test_an_export_that_finishes_after_erasure_began_leaves_nothing(services: Services) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    user_id = services.accounts.create(email=email, tier=Tier.FREE).user.id
    row = services.exporter.request(user_id, daily_limit=3)
    # The erasure's first step runs while the export builds.
    assert services.erasure.close_account(user_id)
    built = services.exporter.build(user_id, row.id, valid_s=60)
    assert not built.kept
    assert not services.storage.exists(export_key(user_id, row.id))
    assert _rows(services, user_id) == []

    # Without an erasure the same build is kept and ready.
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    kept_id = services.accounts.create(email=email, tier=Tier.FREE).user.id
    row = services.exporter.request(kept_id, daily_limit=3)
    assert services.exporter.build(kept_id, row.id, valid_s=60).kept
    assert services.storage.exists(export_key(kept_id, row.id))
    assert services.exporter.get(kept_id, row.id).state == READY


# Build in a fresh interpreter: a small export first (imports, pools), then the peak RSS is
# reset and the large one built; prints how far the peak rose over the RSS before, in KiB,
# and the ZIP's size.
_MEASURE = (
    PRELUDE
    + """
from heirloom.config import Settings
from heirloom.services.context import Services
home, url, small_user, small_id, big_user, big_id = sys.argv[1:]
services = Services.build(Settings(home=home, database_url=url), pool_size=2)
services.exporter.build(small_user, small_id, valid_s=60)
reset_peak()
before = status("VmRSS")
built = services.exporter.build(big_user, big_id, valid_s=60)
peak = status("VmHWM")
print(json.dumps({"growth_kib": peak - before, "peak_kib": peak, "size": built.size}))
"""
)

# Stored bytes of the large export: 8 jobs of 4 files of 8 MiB (256 MiB) unless
# EXPORT_TEST_FILE_MIB says otherwise (32: the 1 GiB run in docs/api.md). The build
# streams each file, so its memory does not grow with this.
_JOBS, _FILES = 8, 4
_FILE_BYTES = int(os.environ.get("EXPORT_TEST_FILE_MIB", "8")) * MiB


def _user_with_stored_files(services: Services, jobs: int, file_bytes: int) -> str:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    user_id = services.accounts.create(email=email, tier=Tier.FREE).user.id
    with tempfile.TemporaryFile() as zeros:
        for _ in range(jobs):
            job_id = uuid.uuid4().hex
            keys = [
                job_key(user_id, job_id, kind, "jpg")
                for kind in ("original", "result", "thumbnail", "comparison")
            ][:_FILES]
            for stored in keys:
                zeros.truncate(file_bytes)
                zeros.seek(0)
                services.storage.put_file(stored, zeros, content_type="image/jpeg")
            with services.db.session() as session:
                session.add(
                    Job(
                        id=job_id,
                        user_id=user_id,
                        operations="restore",
                        tier="free",
                        status="completed",
                        stage="done",
                        cost=1,
                        original_key=keys[0],
                        result_key=keys[1],
                        thumbnail_key=keys[2],
                        comparison_key=keys[3],
                    )
                )
    return user_id


def test_a_large_export_is_built_in_bounded_memory(services: Services) -> None:
    small_user = _user_with_stored_files(services, 1, 1024)
    big_user = _user_with_stored_files(services, _JOBS, _FILE_BYTES)
    small = services.exporter.request(small_user, daily_limit=3)
    big = services.exporter.request(big_user, daily_limit=3)
    settings = services.settings
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEASURE,
            str(settings.home),
            str(settings.database_url),
            small_user,
            small.id,
            big_user,
            big.id,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    stored = _JOBS * _FILES * _FILE_BYTES
    print(
        f"export of {stored // MiB} MiB stored: ZIP {measured['size'] // MiB} MiB, "
        f"peak RSS growth {measured['growth_kib']} KiB (peak {measured['peak_kib']} KiB)"
    )
    assert measured["size"] > stored
    assert services.storage.size(export_key(big_user, big.id)) == measured["size"]
    assert measured["growth_kib"] < 32 * 1024
    services.storage.delete_prefix(f"users/{big_user}/")


def test_of_concurrent_requests_exactly_one_builds(services: Services) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    user_id = services.accounts.create(email=email, tier=Tier.FREE).user.id
    barrier = threading.Barrier(6)

    def request() -> str:
        barrier.wait()
        try:
            return services.exporter.request(user_id, daily_limit=10).id
        except Conflict:
            return "conflict"

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: request(), range(6)))
    assert answers.count("conflict") == 5
    assert [row.state for row in _rows(services, user_id)] == [BUILDING]
