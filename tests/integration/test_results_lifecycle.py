"""Results lifecycle through the real stack: retention and its cleanup workflow, originals and
metadata, quotas, deleting a job, share links and the audit log of every photo route."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from PIL import Image
from sqlmodel import col, select
from temporalio.client import Client

from heirloom.api.app import create_app
from heirloom.db.models import AuditEntry, CreditEntry, Job, Share
from heirloom.domain.messages import CleanupInput, CleanupReport
from heirloom.domain.task_queues import OPS_TASK_QUEUE
from heirloom.domain.tiers import Tier
from heirloom.services.storage.keys import job_prefix
from heirloom.worker.schedules import periodic_jobs
from heirloom.workflows.cleanup import CleanupWorkflow
from tests.conftest import Stack
from tests.support import photo_bytes, submit, wait_final, wait_until

GPS_IFD = 0x8825


def gps_photo(width: int = 1600, height: int = 1200) -> bytes:
    """A photo whose EXIF carries a camera, a capture date and a GPS position."""
    with Image.open(io.BytesIO(photo_bytes(width, height))) as img:
        exif = Image.Exif()
        exif[0x010F] = "Kodak"
        exif[0x0110] = "Brownie"
        exif.get_ifd(0x8769)[0x9003] = "1962:07:14 10:30:00"
        gps = exif.get_ifd(GPS_IFD)
        gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.0), "E", (2.0, 17.0, 40.0)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90, exif=exif.tobytes())
        return buf.getvalue()


def completed_job(client: httpx.Client, data: bytes | None = None) -> dict[str, Any]:
    response = submit(client, data or photo_bytes(1000, 750))
    assert response.status_code == 202, response.text
    job = wait_final(client, response.json()["id"])
    assert job["status"] == "completed", job
    return job


def run_cleanup(stack: Stack, now: datetime, batch: int = 2) -> int:
    async def run() -> CleanupReport:
        client = await Client.connect(
            stack.settings.temporal_address, namespace=stack.settings.temporal_namespace
        )
        return await client.execute_workflow(
            CleanupWorkflow.run,
            CleanupInput(batch=batch, now=now.timestamp()),
            id=f"test-cleanup-{uuid.uuid4().hex[:8]}",
            task_queue=OPS_TASK_QUEUE,
        )

    return asyncio.run(run()).expired


def age(stack: Stack, job_ids: list[str], days: int) -> None:
    """Move these jobs `days` into the past (their end and expiry), so a cleanup pass at the
    real now finds them due: the shared stack's other jobs are never made due by it."""
    with stack.services.db.session() as session:
        for job in session.exec(select(Job).where(col(Job.id).in_(job_ids))).all():
            if job.finished_at is not None:
                job.finished_at -= timedelta(days=days)
            if job.expires_at is not None:
                job.expires_at -= timedelta(days=days)
            session.add(job)
        session.commit()


def stored_keys(stack: Stack, user_id: str, job_id: str) -> list[str]:
    prefix = job_prefix(user_id, job_id)
    root = stack.settings.resolved_storage_dir / prefix
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def set_tier(stack: Stack, user_id: str, tier: Tier) -> None:
    with stack.client(stack.admin_key) as admin:
        response = admin.patch(f"/v1/admin/users/{user_id}", json={"tier": tier.value})
    assert response.status_code == 200, response.text


# --- retention ------------------------------------------------------------------------------


def test_cleanup_deletes_exactly_the_expired_free_files_and_an_upgrade_keeps_them(
    stack: Stack,
) -> None:
    free_id, free_key = stack.new_user(tier=Tier.FREE, credits=20)
    upgraded_id, upgraded_key = stack.new_user(tier=Tier.FREE, credits=20)
    paid_id, paid_key = stack.new_user(tier=Tier.PAID, credits=20)
    with (
        stack.client(free_key) as free,
        stack.client(upgraded_key) as upgraded,
        stack.client(paid_key) as paid,
    ):
        free_jobs = [completed_job(free) for _ in range(3)]
        kept = completed_job(upgraded)
        paid_job = completed_job(paid)

        for job in free_jobs:
            finished = datetime.fromisoformat(job["finished_at"])
            assert datetime.fromisoformat(job["expires_at"]) == finished + timedelta(days=7)
        assert paid_job["expires_at"] is None
        assert kept["expires_at"] is not None

        set_tier(stack, upgraded_id, Tier.PAID)
        assert upgraded.get(f"/v1/jobs/{kept['id']}").json()["expires_at"] is None

        # Six days on nothing is due; eight days on every free job is, three in batches of 2.
        # These jobs are aged, not the clock moved: the other tests' jobs stay where they are.
        mine = [job["id"] for job in (*free_jobs, kept, paid_job)]
        age(stack, mine, days=6)
        assert run_cleanup(stack, datetime.now(UTC)) == 0
        assert all(stored_keys(stack, free_id, job["id"]) for job in free_jobs)
        age(stack, mine, days=2)
        assert run_cleanup(stack, datetime.now(UTC)) == 3

        for job in free_jobs:
            assert stored_keys(stack, free_id, job["id"]) == []
            body = free.get(f"/v1/jobs/{job['id']}").json()
            assert body["status"] == "expired"
            assert body["result_url"] is None
            assert body["original_url"] is None
            for kind in ("result", "thumbnail", "comparison", "original"):
                gone = free.get(f"/v1/jobs/{job['id']}/{kind}")
                assert gone.status_code == 410
                assert gone.json()["error"]["code"] == "result_expired"
                assert "retention" in gone.json()["error"]["message"]
        for user_id, client, job in ((paid_id, paid, paid_job), (upgraded_id, upgraded, kept)):
            # The model run's claim (exactly-once) stays with the job's files until they go.
            assert stored_keys(stack, user_id, job["id"]) == [
                "claims",
                "comparison.jpg",
                "input.jpg",
                "model",
                "original.jpg",
                "result.jpg",
                "thumbnail.jpg",
            ]
            assert client.get(f"/v1/jobs/{job['id']}/result").status_code == 200
        # A second pass finds nothing left to do.
        assert run_cleanup(stack, datetime.now(UTC)) == 0
        # The money record stays.
        with stack.services.db.session() as session:
            rows = session.exec(
                select(CreditEntry).where(CreditEntry.job_id == free_jobs[0]["id"])
            ).all()
        assert [(row.kind, row.amount) for row in rows] == [("reserve", -2)]


def test_a_downgrade_keeps_existing_results_and_new_results_follow_the_new_tier(
    stack: Stack,
) -> None:
    user_id, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client:
        before = completed_job(client)
        set_tier(stack, user_id, Tier.FREE)
        after = completed_job(client)
        assert client.get(f"/v1/jobs/{before['id']}").json()["expires_at"] is None
        assert after["expires_at"] is not None


def test_the_cleanup_schedule_is_declared(stack: Stack) -> None:
    declared = {job.schedule_id: job for job in periodic_jobs(stack.settings)}
    cleanup = declared["heirloom-retention-cleanup"]
    assert cleanup.workflow == CleanupWorkflow.__name__
    assert cleanup.every == timedelta(seconds=stack.settings.retention_cleanup_interval_s)


# --- originals, metadata, sizes, quota, deletion ---------------------------------------------


def test_original_and_metadata_are_kept_and_outputs_carry_no_gps(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.FREE, credits=20)
    data = gps_photo(1600, 1200)
    with stack.client(key) as client:
        job = completed_job(client, data)
        assert job["metadata"] == {
            "format": "JPEG",
            "width": 1600,
            "height": 1200,
            "mode": "RGB",
            "black_and_white": False,
            "captured_at": "1962-07-14T10:30:00",
            "camera": "Kodak Brownie",
        }
        # 4:3 on the free tier: within 854x480 in the photo's orientation.
        assert (job["width"], job["height"]) == (640, 480)
        original = client.get(job["original_url"])
        assert original.status_code == 200
        assert original.content == data
        for kind in ("result", "thumbnail", "comparison"):
            blob = client.get(job[f"{kind}_url"]).content
            with Image.open(io.BytesIO(blob)) as img:
                assert not img.getexif().get_ifd(GPS_IFD)
            assert b"Exif\x00\x00" not in blob
            assert b"Kodak" not in blob


def test_usage_is_shown_and_a_submission_over_quota_is_refused_before_charging(
    stack: Stack,
) -> None:
    _user_id, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client:
        job = completed_job(client)
        storage = client.get("/v1/me").json()["storage"]
        assert storage["results_kept"] == 1
        assert storage["bytes_used"] > len(photo_bytes(1000, 750))
        assert storage["bytes_limit"] == stack.settings.tier_rules[Tier.PAID].storage_quota_bytes

        rules = stack.settings.tier_rules
        original = rules[Tier.PAID]
        rules[Tier.PAID] = original.model_copy(update={"storage_quota_results": 1})
        try:
            refused = submit(client, photo_bytes(800, 600, seed=3))
        finally:
            rules[Tier.PAID] = original
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "storage_quota_exceeded"
        assert client.get("/v1/me").json()["balance"] == 20 - job["credits_charged"]
        assert len(client.get("/v1/jobs").json()["jobs"]) == 1


def test_deleting_a_job_removes_its_files_and_keeps_the_money_record(stack: Stack) -> None:
    user_id, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client:
        job = completed_job(client)
        assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
        assert stored_keys(stack, user_id, job["id"]) == []
        body = client.get(f"/v1/jobs/{job['id']}").json()
        assert body["status"] == "deleted"
        gone = client.get(f"/v1/jobs/{job['id']}/result")
        assert (gone.status_code, gone.json()["error"]["code"]) == (410, "job_deleted")
        assert client.get("/v1/me").json()["storage"]["results_kept"] == 0
        with stack.services.db.session() as session:
            rows = session.exec(select(CreditEntry).where(CreditEntry.job_id == job["id"])).all()
        assert [(row.kind, row.amount) for row in rows] == [("reserve", -job["credits_charged"])]


def test_deleting_a_running_job_cancels_and_refunds_it_first(stack: Stack) -> None:
    # The RunPod job stays queued: the model never starts, so the cancel refunds in full.
    stack.set_faults(stuck_in_queue=1.0)
    try:
        user_id, key = stack.new_user(tier=Tier.PAID, credits=20)
        with stack.client(key) as client:
            job = submit(client, photo_bytes(800, 600)).json()
            assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
            assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "deleted"
            assert client.get("/v1/me").json()["balance"] == 20
            assert stored_keys(stack, user_id, job["id"]) == []
    finally:
        stack.set_faults()


# --- share links ----------------------------------------------------------------------------


def test_share_link_lifecycle(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client, httpx.Client(base_url=stack.api_url) as anonymous:
        job = completed_job(client)
        created = client.post(f"/v1/jobs/{job['id']}/shares", json={"expires_in": 3600})
        assert created.status_code == 201, created.text
        share = created.json()
        token = share["url"].rpartition("/s/")[2]
        assert len(token) >= 43  # 32 random bytes, url-safe base64
        path = f"/s/{token}"

        page = anonymous.get(path)
        assert page.status_code == 200
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "noindex" in page.headers["x-robots-tag"]
        assert f"{path}/comparison" in page.text
        assert f"{path}/result" in page.text
        assert "/download" not in page.text
        image = anonymous.get(f"{path}/result")
        assert image.status_code == 200
        assert image.content == client.get(job["result_url"]).content
        assert image.headers["referrer-policy"] == "no-referrer"
        assert anonymous.get(f"{path}/comparison").status_code == 200
        refused = anonymous.get(f"{path}/download")
        assert (refused.status_code, refused.json()["error"]["code"]) == (
            403,
            "download_not_allowed",
        )
        assert anonymous.get("/s/" + "x" * 43).status_code == 404

        # Only the hash is stored.
        with stack.services.db.session() as session:
            row = session.get(Share, share["id"])
            assert row is not None
            assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
            assert token not in repr(row.model_dump())

        listed = client.get(f"/v1/jobs/{job['id']}/shares").json()["shares"]
        assert [(s["id"], s["views"], s["status"], s["url"]) for s in listed] == [
            (share["id"], 1, "active", None)
        ]

        downloadable = client.post(
            f"/v1/jobs/{job['id']}/shares", json={"allow_download": True, "expires_in": 60}
        ).json()
        download_path = "/s/" + downloadable["url"].rpartition("/s/")[2]
        download = anonymous.get(f"{download_path}/download")
        assert download.status_code == 200
        assert download.headers["content-disposition"].startswith("attachment")

        assert client.delete(f"/v1/jobs/{job['id']}/shares/{share['id']}").status_code == 204
        for suffix in ("", "/result", "/comparison"):
            revoked = anonymous.get(path + suffix)
            assert (revoked.status_code, revoked.json()["error"]["code"]) == (410, "share_gone")
            assert revoked.headers["x-robots-tag"].startswith("noindex")

        # Expiry: move the second link's end into the past.
        with stack.services.db.session() as session:
            row = session.get(Share, downloadable["id"])
            assert row is not None
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
            session.add(row)
        expired = anonymous.get(download_path)
        assert (expired.status_code, expired.json()["error"]["code"]) == (410, "share_gone")
        statuses = {
            s["id"]: s["status"]
            for s in client.get(f"/v1/jobs/{job['id']}/shares").json()["shares"]
        }
        assert statuses == {share["id"]: "revoked", downloadable["id"]: "expired"}


def test_a_share_of_a_deleted_job_is_gone(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client, httpx.Client(base_url=stack.api_url) as anonymous:
        job = completed_job(client)
        share = client.post(f"/v1/jobs/{job['id']}/shares", json={}).json()
        path = "/s/" + share["url"].rpartition("/s/")[2]
        assert anonymous.get(path).status_code == 200
        assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
        assert anonymous.get(path).status_code == 410


# --- audit log ------------------------------------------------------------------------------


def audit_rows(stack: Stack, owner_id: str) -> list[AuditEntry]:
    with stack.services.db.session() as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.owner_id == owner_id)))


def test_every_photo_route_writes_an_audit_row(stack: Stack) -> None:
    """Walks every route of the app that serves, shares or deletes a user's photo."""
    user_id, key = stack.new_user(tier=Tier.PAID, credits=20)
    app_routes = _photo_routes(stack)
    with stack.client(key) as client, httpx.Client(base_url=stack.api_url) as anonymous:
        job = completed_job(client)
        share = client.post(f"/v1/jobs/{job['id']}/shares", json={"allow_download": True}).json()
        token = share["url"].rpartition("/s/")[2]
        export = ready_export(client)
        values = {
            "job_id": job["id"],
            "token": token,
            "share_id": share["id"],
            "export_id": export["id"],
            "candidate": 1,
            "kind": "result",
        }
        # DELETE routes last: they take the photo away.
        for method, path in sorted(app_routes, key=lambda r: (r[0] == "DELETE", r[1])):
            url = path.format(**values)
            is_public = path.startswith("/s/")
            caller = anonymous if is_public else client
            before = len(audit_rows(stack, user_id))
            if method == "POST":
                # Choosing needs a candidate: a job without candidates has one, its result.
                body = {"candidate": 1} if path.endswith("/choose") else {}
                response = caller.post(url, json=body)
            else:
                response = caller.request(method, url)
            assert response.status_code < 400, (method, url, response.text)
            rows = audit_rows(stack, user_id)
            assert len(rows) == before + 1, f"{method} {path} wrote no audit row"
            row = max(rows, key=lambda r: r.id or 0)
            assert row.actor == ("public" if is_public else user_id)
            assert row.via == ("share" if is_public else "api")
            assert row.ip == "127.0.0.1"
            assert row.user_agent is not None
            assert "python-httpx" in row.user_agent
            assert row.job_id == (None if path.startswith("/v1/me") else job["id"])

        own = client.get("/v1/me/audit").json()["entries"]
        assert len(own) == len(audit_rows(stack, user_id))
        with stack.client(stack.admin_key) as admin:
            since = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
            queried = admin.get("/v1/admin/audit", params={"user_id": user_id, "since": since})
            assert queried.status_code == 200
            assert {e["action"] for e in queried.json()["entries"]} >= {
                "result",
                "original",
                "share_view",
                "delete",
            }
            assert admin.get(f"/v1/admin/jobs/{job['id']}").status_code == 200
        assert audit_rows(stack, user_id)[-1].action == "admin_view"
        assert audit_rows(stack, user_id)[-1].via == "admin"


def test_retrying_a_failed_job_is_audited(stack: Stack) -> None:
    user_id, key = stack.new_user(tier=Tier.PAID, credits=20)
    stack.set_faults(failed=1.0)
    try:
        with stack.client(key) as client:
            job = wait_final(client, submit(client, photo_bytes(800, 600)).json()["id"])
            assert job["status"] == "failed"
    finally:
        stack.set_faults()
    with stack.client(key) as client:
        assert client.post(f"/v1/jobs/{job['id']}/retry").status_code == 202
    row = audit_rows(stack, user_id)[-1]
    assert (row.action, row.job_id, row.actor) == ("retry", job["id"], user_id)


# Routes under these that do not touch a photo's bytes or its sharing.
_NOT_PHOTO_ACCESS = {
    ("GET", "/v1/jobs/{job_id}"),  # the job's record
    ("POST", "/v1/jobs/{job_id}/cancel"),
    ("GET", "/v1/jobs/{job_id}/shares"),  # the owner's list of links
    # Reads the original of a failed job only: test_retrying_a_failed_job_is_audited.
    ("POST", "/v1/jobs/{job_id}/retry"),
    ("GET", "/v1/me/exports/{export_id}"),  # the export's state
    ("GET", "/v1/me/exports"),  # the list of the caller's exports
    ("GET", "/v1/jobs/{job_id}/events"),  # the job's status stream: links, never image bytes
}


def _photo_routes(stack: Stack) -> list[tuple[str, str]]:
    """Every (method, path) of the API under a job, a public share or an export.

    DELETE /v1/me (audited as erase_account) is checked in test_erasure.py."""
    paths = create_app(stack.settings, services=stack.services).openapi()["paths"]
    found = [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(("/v1/jobs/{job_id}", "/s/", "/v1/me/export"))
        for method in operations
        if (method.upper(), path) not in _NOT_PHOTO_ACCESS
    ]
    assert len(found) >= 13, found
    return found


# --- export ---------------------------------------------------------------------------------


def ready_export(client: httpx.Client) -> dict[str, Any]:
    started = client.post("/v1/me/exports")
    assert started.status_code == 202, started.text
    status_url = started.json()["status_url"]

    def ready() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(status_url).json()
        return body if body["status"] == "ready" else None

    return wait_until(ready, "the export to be ready", interval=0.1)


def test_export_zip_holds_the_profile_ledger_jobs_and_every_kept_photo(stack: Stack) -> None:
    user_id, key = stack.new_user(tier=Tier.FREE, credits=20)
    data = gps_photo(1200, 900)
    with stack.client(key) as client:
        kept = completed_job(client, data)
        result = client.get(kept["result_url"]).content
        deleted = completed_job(client)
        assert client.delete(f"/v1/jobs/{deleted['id']}").status_code == 204

        export = ready_export(client)
        expires = datetime.fromisoformat(export["expires_at"])
        assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(days=1)
        response = client.get(export["download_url"])
        assert response.status_code == 200
        assert response.headers["content-disposition"].startswith("attachment")
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        photos = f"photos/{kept['id']}"
        assert sorted(archive.namelist()) == sorted(
            [
                "albums.json",
                "api_keys.json",
                "audit.json",
                "jobs.json",
                "ledger.json",
                "profile.json",
                "purchases.json",
                "shares.json",
                "webhook.json",
                f"{photos}/comparison.jpg",
                f"{photos}/original.jpg",
                f"{photos}/result.jpg",
                f"{photos}/thumbnail.jpg",
            ]
        )
        assert archive.read(f"{photos}/original.jpg") == data
        assert archive.read(f"{photos}/result.jpg") == result
        assert b"Kodak" not in result
        profile = json.loads(archive.read("profile.json"))
        assert (profile["id"], profile["tier"], profile["balance"]) == (user_id, "free", 16)
        assert "api_key_hash" not in profile
        jobs = {job["id"]: job for job in json.loads(archive.read("jobs.json"))}
        assert jobs[kept["id"]]["photo_metadata"]["camera"] == "Kodak Brownie"
        assert jobs[deleted["id"]]["status"] == "deleted"
        ledger = json.loads(archive.read("ledger.json"))
        credits = client.get("/v1/me/credits").json()["entries"]
        assert sorted((e["kind"], e["amount"]) for e in ledger) == sorted(
            (e["kind"], e["amount"]) for e in credits
        )
        actions = {entry["action"] for entry in json.loads(archive.read("audit.json"))}
        assert {"result", "delete", "export"} <= actions
