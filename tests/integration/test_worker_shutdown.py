"""Deploys cost no GPU time: a SIGTERMed worker leaves its RunPod job running for the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from heirloom.config import Settings
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from tests.conftest import DEPLOY_NAMESPACE, Stack
from tests.harness.stack import serving
from tests.harness.workers import WorkerThread
from tests.integration.test_jobs_api import ledger, runpod_status, wait_for_runpod_job
from tests.support import HANG_GUARD_S, photo_bytes, submit, wait_final

# The model outlasts the 1 s grace period by far, even on a busy machine.
MODEL_MS = 8000
GRACE_S = 1.0


@pytest.fixture
def deploy(faults: Stack, tmp_path: Path) -> Iterator[tuple[Stack, Services, str]]:
    """The stack's database, storage and RunPod endpoint, with an API on a namespace of its own."""
    settings = faults.settings.model_copy(
        update={
            "temporal_namespace": DEPLOY_NAMESPACE,
            "worker_tiers": [Tier.FREE],
            "worker_graceful_shutdown_s": GRACE_S,
        }
    )
    with serving(settings, pool_size=4) as served:
        yield faults, served.services, served.api_url


def start_worker_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HEIRLOOM_")},
        "HEIRLOOM_HOME": str(settings.home),
        "HEIRLOOM_DATABASE_URL": settings.resolved_database_url,
        "HEIRLOOM_TEMPORAL_ADDRESS": settings.temporal_address,
        "HEIRLOOM_TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "HEIRLOOM_RUNPOD_BASE_URL": settings.runpod_base_url,
        "HEIRLOOM_RUNPOD_API_KEY": settings.runpod_api_key,
        "HEIRLOOM_RUNPOD_POLL_INTERVAL_S": "0.1",
        "HEIRLOOM_WORKER_GRACEFUL_SHUTDOWN_S": str(settings.worker_graceful_shutdown_s),
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "heirloom.cli", "worker", "--tiers", "free"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_until_polled(
    api_url: str, admin_key: str, tier: Tier, timeout: float = HANG_GUARD_S
) -> None:
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {admin_key}"}
    while time.monotonic() < deadline:
        # Which check passes is for admins (/readyz says only ready or not).
        health = httpx.get(f"{api_url}/v1/admin/health", headers=headers, timeout=30)
        checks = health.json()["checks"]
        if checks[f"worker:{tier.value}"]["ok"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"no worker started polling {tier.task_queue}")


def test_a_sigtermed_worker_leaves_the_model_call_to_the_next_worker(
    deploy: tuple[Stack, Services, str], tmp_path: Path
) -> None:
    stack, services, api_url = deploy
    log = tmp_path / "worker.log"
    worker = start_worker_process(services.settings, log)
    try:
        wait_until_polled(api_url, stack.admin_key, Tier.FREE)
        stack.set_faults(execution_ms=MODEL_MS)
        _, key = stack.new_user(tier=Tier.FREE, credits=20)
        with httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            response = submit(client, photo_bytes(320, 240))
            assert response.status_code == 202, response.text
            job_id = response.json()["id"]
            runpod_job = wait_for_runpod_job(stack, job_id)

            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=60) == 0, log.read_text()
            # The old worker is gone and its model call was not cancelled at RunPod.
            assert runpod_status(stack, runpod_job) != "CANCELLED"
            assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"

            with WorkerThread(services):
                job = wait_final(client, job_id)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert job["status"] == "completed", job
    submitted: dict[str, int] = stack.runpod_stats()["submitted_by_ref"]  # type: ignore[assignment]
    assert submitted[job_id] == 1, "the next worker resumed the RunPod job instead of paying again"
    assert (job["credits_charged"], job["credits_refunded"]) == (2, 0)
    assert ledger(stack, job_id) == [("reserve", -2)]
