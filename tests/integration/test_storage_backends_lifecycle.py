"""Downloads and account closure on local disk and on S3 (a moto server).

Downloads: S3 answers a short-lived presigned URL (302), local disk streams. Closing an account
(DELETE /v1/me): the key fails at once, and the erasure workflow, its worker process SIGKILLed
in the middle of deleting files and a new one started, leaves no file under the user's prefix,
no workflow history of the user's jobs, and the ledger anonymised but whole."""

from __future__ import annotations

import asyncio
import functools
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer
from sqlmodel import select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from heirloom.config import FaultSettings, Settings
from heirloom.db.models import AuditEntry, CreditEntry, Job, Share, User
from heirloom.devstack.temporal_server import TemporalDevServer
from heirloom.domain.pricing import Prices
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.storage.s3 import S3Storage
from heirloom.workflows.erasure import ErasureWorkflow, erasure_workflow_id
from tests.conftest import ERASURE_NAMESPACE
from tests.harness.stack import running_stack
from tests.harness.workers import WorkerProcess, WorkerThread
from tests.support import HANG_GUARD_S, photo_bytes, submit, wait_final, wait_until


@dataclass
class Env:
    settings: Settings
    services: Services
    api_url: str
    runpod_url: str

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=60.0)

    def temporal(self, call: Any) -> Any:
        async def run() -> Any:
            client = await Client.connect(
                self.settings.temporal_address, namespace=self.settings.temporal_namespace
            )
            return await call(client)

        return asyncio.run(run())

    def user_keys(self, user_id: str) -> list[str]:
        storage = self.services.storage
        if isinstance(storage, S3Storage):
            listed = storage.client.list_objects_v2(
                Bucket=storage.bucket, Prefix=f"users/{user_id}/"
            )
            return [obj["Key"] for obj in listed.get("Contents", [])]
        root = self.settings.resolved_storage_dir / "users" / user_id
        return [str(p) for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
        server.stop()


@pytest.fixture(params=["local", "s3"])
def env(
    request: pytest.FixtureRequest, temporal_server: TemporalDevServer, tmp_path: Path
) -> Iterator[Env]:
    storage: dict[str, Any] = {}
    if request.param == "s3":
        storage = {
            "storage_backend": "s3",
            "s3_endpoint_url": request.getfixturevalue("moto_endpoint"),
            "s3_bucket": f"erasure-{uuid.uuid4().hex[:10]}",
        }
    with running_stack(
        tmp_path,
        f"sqlite:///{tmp_path / 'heirloom.db'}",
        temporal_server.address,
        ERASURE_NAMESPACE,
        runpod_key="erasure-key",
        worker=None,
        # A killed worker's erasure step runs again within seconds.
        erasure_heartbeat_timeout_s=2,
        **storage,
    ) as stack:
        yield Env(stack.settings, stack.services, stack.api_url, stack.runpod_url)


def set_faults(env: Env, **faults: float) -> None:
    body = FaultSettings(**faults).model_dump()
    httpx.put(f"{env.runpod_url}/_admin/faults", json=body, timeout=10).raise_for_status()


def pending_activities(env: Env, workflow_id: str) -> list[str]:
    async def describe(client: Client) -> list[str]:
        description = await client.get_workflow_handle(workflow_id).describe()
        return [a.activity_type.name for a in description.raw_description.pending_activities]

    names: list[str] = env.temporal(describe)
    return names


def history_is_gone(env: Env, workflow_id: str) -> bool:
    async def describe(client: Client) -> bool:
        try:
            await client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            return err.status == RPCStatusCode.NOT_FOUND
        return False

    gone: bool = env.temporal(describe)
    return gone


def worker_process(env: Env, home: Path) -> WorkerProcess:
    """`heirloom worker` for the paid, GPU and ops queues, on this env's database and storage."""
    storage: dict[str, str] = {"HEIRLOOM_STORAGE_BACKEND": env.settings.storage_backend}
    if env.settings.storage_backend == "s3":
        storage["HEIRLOOM_S3_BUCKET"] = env.settings.s3_bucket
        storage["HEIRLOOM_S3_ENDPOINT_URL"] = env.settings.s3_endpoint_url or ""
    return WorkerProcess(
        env.settings,
        home / "worker.log",
        env={**storage, "HEIRLOOM_SCHEDULES_ENABLED": "false"},
    )


def wait_ready(worker: WorkerProcess) -> None:
    wait_until(worker.ready, "the worker process to poll")


def job_of(key: str) -> str:
    """The job id in a file's key or path (`.../users/<user>/jobs/<job>/...`)."""
    return key.split("/jobs/", 1)[1].split("/", 1)[0]


def user_keys_settled(env: Env, user_id: str) -> list[str] | None:
    """The user's keys, or None while a directory vanishes under the listing."""
    try:
        return env.user_keys(user_id)
    except FileNotFoundError:
        return None


def test_account_erasure_survives_a_killed_worker_and_leaves_nothing_personal(
    env: Env, tmp_path: Path
) -> None:
    account = env.services.accounts.create(
        email=f"{uuid.uuid4().hex[:8]}@example.com", tier=Tier.PAID, credits=20
    )
    user_id, key = account.user.id, account.api_key
    other = env.services.accounts.create(email="stays@example.com", tier=Tier.PAID, credits=20)
    worker = worker_process(env, tmp_path)
    # The first worker pauses (alive, heartbeating) after each job's files during an erasure.
    worker.entry = ("tests.harness.slow_erasure", "60")
    worker.start()
    try:
        wait_ready(worker)
        with env.client(key) as client, env.client(other.api_key) as other_client:
            done = wait_final(client, submit(client, photo_bytes(800, 600)).json()["id"])
            assert done["status"] == "completed"
            kept = wait_final(
                other_client, submit(other_client, photo_bytes(640, 480)).json()["id"]
            )
            assert client.post(f"/v1/jobs/{done['id']}/shares", json={}).status_code == 201
            set_faults(env, execution_ms=60_000)
            running = submit(client, photo_bytes(700, 500, seed=2)).json()
            wait_until(lambda: env.services.jobs.get(running["id"]).runpod_job_id, "the GPU")
            before = env.user_keys(user_id)
            assert before

            closed = client.delete("/v1/me")
            assert closed.status_code == 202, closed.text
            # The key is refused from the first second.
            assert client.get("/v1/me").status_code == 401
            assert client.get(f"/v1/jobs/{done['id']}/result").status_code == 401

        # The running job stopped, and delete_files (one job at a time, by job id) deleted
        # the first job's files and pauses before the second's: the worker process is
        # SIGKILLed there.
        workflow_id = erasure_workflow_id(user_id)
        first, second = sorted((done["id"], running["id"]))
        assert {job_of(k) for k in before} == {first, second}

        def first_job_deleted() -> bool:
            keys = user_keys_settled(env, user_id)
            in_delete_files = pending_activities(env, workflow_id) == ["delete_files"]
            return in_delete_files and keys is not None and first not in map(job_of, keys)

        wait_until(first_job_deleted, "the first job's files deleted")
        at_kill = env.user_keys(user_id)
        worker.kill()
        assert worker.exited_with() == -signal.SIGKILL
        assert at_kill, "the kill came after the last file"
        assert {job_of(k) for k in at_kill} == {second}
        set_faults(env)

        worker.entry = ("heirloom.cli",)
        worker.start()
        wait_ready(worker)

        async def result(client: Client) -> Any:
            handle = client.get_workflow_handle_for(ErasureWorkflow.run, workflow_id)
            return await asyncio.wait_for(handle.result(), HANG_GUARD_S)

        report = env.temporal(result)
    finally:
        worker.stop()
    # The new worker's attempt of delete_files deleted what the killed one left.
    assert report.files_deleted == len(at_kill)
    assert report.histories_deleted >= 2

    assert env.user_keys(user_id) == []
    for job_id in (done["id"], running["id"]):
        wait_until(functools.partial(history_is_gone, env, job_id), f"{job_id} history gone")
    with env.services.db.session() as session:
        user = session.get(User, user_id)
        assert user is not None
        assert user.email == f"erased-{user_id}@erased.invalid"
        assert user.role == "erased"
        assert session.exec(select(Job).where(Job.user_id == user_id)).all() == []
        assert session.exec(select(Share).where(Share.user_id == user_id)).all() == []
        ledger = session.exec(select(CreditEntry).where(CreditEntry.user_id == user_id)).all()
        # The erasure cancels the running job as its owner's request: once its model had
        # started, the stated part of the price is kept (the refund's reason says so).
        [refund] = [row for row in ledger if row.kind == "refund"]
        charged = running["credits_charged"]
        kept_part = charged - Prices().cancel_refund(charged, model_started=True)
        started = "after the model started" in refund.reason
        assert charged - refund.amount == (kept_part if started else 0)
        # Grant, two charges and the cancelled job's refund: whole, and equal to the balance.
        assert sorted((row.kind, row.amount) for row in ledger) == [
            ("grant", 20),
            ("refund", refund.amount),
            ("reserve", -done["credits_charged"]),
            ("reserve", -running["credits_charged"]),
        ]
        assert sum(row.amount for row in ledger) == user.balance
        assert all(row.reason != "starting credits" for row in ledger if row.kind == "grant")
        audit = session.exec(select(AuditEntry).where(AuditEntry.owner_id == user_id)).all()
        assert "erase_account" in {row.action for row in audit}
        assert all(row.ip is None and row.user_agent is None for row in audit)
    # The erasure log holds it, so a restore from an older backup erases the account again.
    assert user_id in {logged for logged, _ in env.services.erasure.logged()}
    # Nobody else's data was touched.
    assert env.services.jobs.get(kept["id"]).status == "completed"
    assert env.user_keys(other.user.id)
    assert not history_is_gone(env, kept["id"])


def test_downloads_are_presigned_redirects_on_s3_and_streams_on_local_disk(env: Env) -> None:
    account = env.services.accounts.create(
        email=f"{uuid.uuid4().hex[:8]}@example.com", tier=Tier.PAID, credits=20
    )
    data = photo_bytes(800, 600)
    with WorkerThread(env.services), env.client(account.api_key) as client:
        job = wait_final(client, submit(client, data).json()["id"])
        share = client.post(f"/v1/jobs/{job['id']}/shares", json={}).json()
    share_image = "/s/" + share["url"].rpartition("/s/")[2] + "/result"
    on_s3 = env.settings.storage_backend == "s3"
    with env.client(account.api_key) as client:
        for path in (job["original_url"], job["result_url"], share_image):
            response = client.get(path)
            if on_s3:
                assert response.status_code == 302, path
                location = response.headers["location"]
                assert location.startswith(env.settings.s3_endpoint_url or "")
                assert "X-Amz-Expires=300" in location or "Expires=" in location
                image = httpx.get(location, timeout=30)
                assert image.status_code == 200
                body = image.content
            else:
                assert response.status_code == 200, path
                body = response.content
            if path == job["original_url"]:
                assert body == data
            else:
                assert body[:2] == b"\xff\xd8"  # a JPEG
