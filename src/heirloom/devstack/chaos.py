"""The chaos harness: jobs in flight while the worker process is SIGKILLed and restarted.

Used by the chaos integration test and by `bench/chaos.py`. Everything is real: a Temporal
server, the local RunPod endpoint (counting submissions per job), SQLite, local storage and a
worker in its own process, killed at random moments.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, func, select
from temporalio.client import Client

from heirloom.api.submissions import Submitter
from heirloom.config import FaultSettings, Settings
from heirloom.db import migrate
from heirloom.db.models import CreditEntry, Job
from heirloom.devstack.endpoint import create_endpoint_app
from heirloom.devstack.serving import serve_app
from heirloom.devstack.temporal_server import TemporalDevServer
from heirloom.domain.tiers import DEFAULT_TIER_RULES, Tier
from heirloom.services.context import Services


@dataclass
class ChaosReport:
    """What a chaos run saw; double charges and lost jobs must be zero."""

    jobs: int
    kills: int
    server_restarts: int
    completed: int
    failed: int
    cancelled: int
    lost_jobs: int
    double_charges: int
    double_submissions: int
    model_calls_resumed: int
    ledger_consistent: bool
    credits_expected: int
    credits_actual: int
    seconds: float
    statuses: dict[str, int] = field(default_factory=dict)


def chaos_settings(home: Path, temporal_address: str, namespace: str) -> Settings:
    """Short timeouts so a killed worker's activities are retried within seconds."""
    rules = DEFAULT_TIER_RULES[Tier.PAID].model_copy(
        update={"model_attempts": 10, "max_active_jobs": None}  # one user submits every job
    )
    return Settings(
        home=home,
        database_url=f"sqlite:///{home / 'chaos.db'}",
        temporal_address=temporal_address,
        temporal_namespace=namespace,
        runpod_api_key="chaos-key",
        runpod_poll_interval_s=0.1,
        activity_start_to_close_s=5,
        model_heartbeat_timeout_s=2,
        tier_rules={Tier.PAID: rules},
        worker_tiers=[Tier.PAID],
    )


def _worker_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "HEIRLOOM_HOME": str(settings.home),
        "HEIRLOOM_DATABASE_URL": settings.resolved_database_url,
        "HEIRLOOM_TEMPORAL_ADDRESS": settings.temporal_address,
        "HEIRLOOM_TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "HEIRLOOM_RUNPOD_API_KEY": settings.runpod_api_key,
        "HEIRLOOM_RUNPOD_BASE_URL": settings.runpod_base_url,
        "HEIRLOOM_RUNPOD_POLL_INTERVAL_S": str(settings.runpod_poll_interval_s),
    }


class WorkerProcess:
    """`heirloom worker` as a child process that can be killed without warning."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "heirloom.cli", "worker", "--tiers", "paid"],
                env=_worker_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


async def run_chaos(
    *,
    home: Path,
    temporal_address: str,
    namespace: str,
    photo: bytes,
    jobs: int = 20,
    kills: int = 5,
    server: TemporalDevServer | None = None,
    server_restarts: int = 0,
    model_ms: int = 1500,
    seed: int = 7,
    timeout_s: float = 180.0,
) -> ChaosReport:
    """Submit `jobs` paid jobs, SIGKILL the worker `kills` times at random moments, report.

    With `server` (a Temporal dev server with a database file, which `temporal_address` must
    point at) it is also stopped and started again `server_restarts` times. `home` must exist;
    the database, logs and storage of the run go there.
    """
    rng = random.Random(seed)
    started = time.monotonic()
    endpoint_settings = Settings(
        home=home,
        runpod_api_key="chaos-key",
        devstack_runpod_workers=4,
        faults=FaultSettings(execution_ms=model_ms),
    )
    with serve_app(create_endpoint_app(endpoint_settings)) as runpod_url:
        settings = chaos_settings(home, temporal_address, namespace).model_copy(
            update={"runpod_base_url": f"{runpod_url}/v2"}
        )
        migrate.upgrade(settings.resolved_database_url)
        services = Services.build(settings)
        worker = WorkerProcess(settings, home / "worker.log")
        try:
            credits = 2 * jobs
            user = services.accounts.create(
                email=f"chaos-{seed}-{time.time_ns()}@example.com", tier=Tier.PAID, credits=credits
            ).user
            client = await Client.connect(temporal_address, namespace=namespace)
            worker.start()
            submitter = Submitter(services, client)
            submissions = await asyncio.gather(
                *(
                    submitter.submit(
                        user, data=photo, operations="restore", idempotency_key=f"chaos-{i}"
                    )
                    for i in range(jobs)
                )
            )
            job_ids = [s.job.id for s in submissions]
            disruptions = ["worker"] * kills + ["server"] * (server_restarts if server else 0)
            rng.shuffle(disruptions)
            for target in disruptions:
                await asyncio.sleep(rng.uniform(0.5, 2.5))
                if target == "worker":
                    worker.kill()
                    await asyncio.sleep(rng.uniform(0.0, 0.5))
                    worker.start()
                elif server is not None:
                    await asyncio.to_thread(server.stop)
                    await asyncio.to_thread(server.start)
            statuses = await _wait_final(services, job_ids, started + timeout_s)
            async with httpx.AsyncClient(timeout=10) as http:
                stats = (await http.get(f"{runpod_url}/_admin/stats")).json()
        finally:
            worker.stop()
        resumed = worker.log.read_text(errors="replace").count("resumes RunPod job")
        report = _report(services, user.id, job_ids, statuses, stats, credits, kills, started)
        report.model_calls_resumed = resumed
        report.server_restarts = server_restarts if server else 0
        services.close()
    return report


async def _wait_final(services: Services, job_ids: list[str], deadline: float) -> dict[str, str]:
    while True:
        with services.db.session() as session:
            rows = session.exec(select(Job.id, Job.status).where(col(Job.id).in_(job_ids)))
            statuses = {job_id: status for job_id, status in rows}
        finished = [s for s in statuses.values() if s in ("completed", "failed", "cancelled")]
        if len(finished) == len(job_ids) or time.monotonic() > deadline:
            return statuses
        await asyncio.sleep(0.25)


def _report(
    services: Services,
    user_id: str,
    job_ids: list[str],
    statuses: dict[str, str],
    stats: dict[str, Any],
    credits: int,
    kills: int,
    started: float,
) -> ChaosReport:
    counts = Counter(statuses.get(job_id, "missing") for job_id in job_ids)
    with services.db.session() as session:
        reserves = session.exec(
            select(CreditEntry.job_id, func.count())
            .where(CreditEntry.kind == "reserve", col(CreditEntry.job_id).in_(job_ids))
            .group_by(col(CreditEntry.job_id))
        ).all()
    submitted: dict[str, int] = stats.get("submitted_by_ref", {})
    charged_completed = 2 * counts["completed"]
    actual = services.credits.balance(user_id)
    return ChaosReport(
        jobs=len(job_ids),
        kills=kills,
        server_restarts=0,
        completed=counts["completed"],
        failed=counts["failed"],
        cancelled=counts["cancelled"],
        lost_jobs=len(job_ids) - counts["completed"] - counts["failed"] - counts["cancelled"],
        double_charges=sum(1 for _job, n in reserves if n > 1),
        double_submissions=sum(1 for job_id in job_ids if submitted.get(job_id, 0) > 1),
        model_calls_resumed=0,
        ledger_consistent=services.credits.check_consistency([user_id]) == [],
        credits_expected=credits - charged_completed,
        credits_actual=actual,
        seconds=time.monotonic() - started,
        statuses=dict(counts),
    )
