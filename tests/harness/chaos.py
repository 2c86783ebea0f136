"""The chaos harness: jobs in flight while the worker process is SIGKILLed and restarted.

Used by the chaos integration test and by `bench/chaos.py`. Everything is real: a Temporal
server, the local RunPod endpoint (counting submissions and model executions per job), SQLite,
local storage and a worker in its own process. Kills are aimed at model calls: each waits until
the endpoint runs a job. With `exit_after_submit` the worker is also SIGKILLed inside the submit
window (after RunPod accepted a job, before the worker hears its id) on every job's first
submission, by the local endpoint's `fault_after_run` hook, and is restarted each time.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, func, select
from temporalio.client import Client

from heirloom.config import FaultSettings, Settings
from heirloom.db.models import CreditEntry, Job
from heirloom.devstack.temporal_server import TemporalDevServer
from heirloom.domain.tiers import DEFAULT_TIER_RULES, Tier
from heirloom.services.context import Services
from heirloom.starters.restoration import Submitter
from tests.harness.stack import running_stack
from tests.harness.workers import WorkerProcess, wait_polled


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
    submissions: int
    model_calls_resumed: int
    kills_in_model_calls: int
    submit_window_exits: int
    model_executions: int
    second_model_executions: int
    duplicate_runs: int
    duplicate_gpu_ms: int
    ledger_consistent: bool
    credits_expected: int
    credits_actual: int
    seconds: float
    statuses: dict[str, int] = field(default_factory=dict)


def chaos_settings(*, exit_after_submit: bool = False) -> dict[str, Any]:
    """Settings over the stack's: short timeouts so a killed worker's activities are retried
    within seconds."""
    rules = DEFAULT_TIER_RULES[Tier.PAID].model_copy(
        # One user submits every job.
        update={"model_attempts": 10, "max_active_jobs": None, "daily_job_limit": None}
    )
    settings: dict[str, Any] = {
        # CPU steps: long enough for the quality gate's queue behind 20 jobs on a loaded
        # machine (its process pool restarts with every killed worker); the kills land in
        # model calls, which the short heartbeat below retries within seconds.
        "activity_start_to_close_s": 20,
        "model_heartbeat_timeout_s": 2,
        "tier_rules": {Tier.PAID: rules},
        "worker_tiers": [Tier.PAID],
    }
    if exit_after_submit:
        settings["worker_max_concurrent_activities"] = {Tier.PAID: 1}
        # Model steps run on the GPU queue: one at a time there too.
        settings["worker_gpu_slots"] = 1
    return settings


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
    gpus: int = 1,
    seed: int = 7,
    timeout_s: float = 180.0,
    exit_after_submit: bool = False,
) -> ChaosReport:
    """Submit `jobs` paid jobs, SIGKILL the worker `kills` times during model calls, report.

    The endpoint runs `gpus` jobs at a time for `model_ms` each; one GPU keeps model calls in
    flight for `jobs * model_ms`, long enough for every kill to find one.

    With `exit_after_submit` every job's first model attempt ends its worker process inside
    the submit window; the worker then runs one activity at a time, so each exit hits one job.

    With `server` (a Temporal dev server with a database file, which `temporal_address` must
    point at) it is also stopped and started again `server_restarts` times. `home` must exist;
    the database, logs and storage of the run go there.
    """
    rng = random.Random(seed)
    started = time.monotonic()
    window = _SubmitWindow()
    with running_stack(
        home,
        f"sqlite:///{home / 'chaos.db'}",
        temporal_address,
        namespace,
        runpod_key="chaos-key",
        endpoint={"devstack_runpod_workers": gpus, "faults": FaultSettings(execution_ms=model_ms)},
        fault_after_run=window.kill_worker if exit_after_submit else None,
        worker=None,
        api=False,
        **chaos_settings(exit_after_submit=exit_after_submit),
    ) as stack:
        settings, services, runpod_url = stack.settings, stack.services, stack.runpod_url
        worker = WorkerProcess(settings, home / "worker.log")
        window.worker = worker
        # The submit-window exit takes down whatever else its process runs: there, model steps
        # get a process of their own (as a GPU worker would be deployed) beside a steady one
        # for the CPU steps, so the exits hit model calls only.
        cpu_worker = None
        if exit_after_submit:
            worker.queues = ("--tiers", "none", "--gpu-slots", "1")
            cpu_worker = WorkerProcess(
                settings, home / "cpu-worker.log", ("--tiers", "paid", "--gpu-slots", "0")
            )
        supervisor: asyncio.Task[None] | None = None
        exits: list[int] = []
        kills_in_model_calls = 0
        try:
            credits = 2 * jobs
            user = services.accounts.create(
                email=f"chaos-{seed}-{time.time_ns()}@example.com", tier=Tier.PAID, credits=credits
            ).user
            client = await Client.connect(temporal_address, namespace=namespace)
            worker.start()
            if cpu_worker is not None:
                cpu_worker.start()
                await _wait_ready(cpu_worker, started + timeout_s)
            submitter = Submitter(services, client)
            deadline = started + timeout_s
            # One batch of jobs per worker life, each submitted to a worker that polls, so
            # every kill finds fresh model calls however slowly the worker restarts.
            batches = _batches(jobs, kills + 1)
            job_ids: list[str] = []

            async def submit_batch() -> None:
                await _wait_polled(client, deadline)
                first = len(job_ids)
                submissions = await asyncio.gather(
                    *(
                        submitter.submit(
                            user, data=photo, operations="restore", idempotency_key=f"chaos-{i}"
                        )
                        for i in range(first, first + batches.pop(0))
                    )
                )
                job_ids.extend(s.job.id for s in submissions)

            await submit_batch()
            lock = asyncio.Lock()
            supervisor = asyncio.create_task(_restart_on_exit(worker, lock, exits))
            disruptions = ["worker"] * kills + ["server"] * (server_restarts if server else 0)
            rng.shuffle(disruptions)
            async with httpx.AsyncClient(base_url=runpod_url, timeout=10) as http:
                for target in disruptions:
                    await asyncio.sleep(rng.uniform(0.1, 0.6))
                    if target == "worker":
                        in_model_call = await _wait_model_call(
                            http, worker, services, settings, job_ids, deadline
                        )
                        async with lock:
                            worker.kill()
                            kills_in_model_calls += in_model_call
                            await asyncio.sleep(rng.uniform(0.0, 0.5))
                            worker.start()
                        await _wait_ready(worker, deadline)
                        await submit_batch()
                    elif server is not None:
                        await asyncio.to_thread(server.stop)
                        await asyncio.to_thread(server.start)
                statuses = await _wait_final(services, job_ids, deadline)
                stats = (await http.get("/_admin/stats")).json()
        finally:
            if supervisor is not None:
                supervisor.cancel()
            worker.stop()
            if cpu_worker is not None:
                cpu_worker.stop()
        log_text = worker.log.read_text(errors="replace")
        report = _report(services, user.id, job_ids, statuses, stats, credits, kills, started)
        report.model_calls_resumed = log_text.count("resumes RunPod job")
        report.kills_in_model_calls = kills_in_model_calls
        report.submit_window_exits = window.kills
        report.server_restarts = server_restarts if server else 0
    return report


class _SubmitWindow:
    """The endpoint's fault hook: SIGKILL the worker once per job, after RunPod accepted the
    job and before the worker hears its id."""

    def __init__(self) -> None:
        self.worker: WorkerProcess | None = None
        self.kills = 0
        self._seen: set[str] = set()

    async def kill_worker(self, job_ref: str | None) -> None:
        if job_ref is None or job_ref in self._seen or self.worker is None:
            return
        self._seen.add(job_ref)
        process = self.worker.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            self.kills += 1


def _batches(jobs: int, count: int) -> list[int]:
    """`jobs` split into `count` batch sizes as even as can be, the larger ones first."""
    size, extra = divmod(jobs, count)
    return [size + (1 if i < extra else 0) for i in range(count)]


async def _wait_ready(worker: WorkerProcess, deadline: float) -> None:
    while time.monotonic() < deadline:
        if worker.ready():
            return
        await asyncio.sleep(0.05)


async def _wait_polled(client: Client, deadline: float) -> None:
    """Until Temporal sees a worker poll the paid queue: the Submitter refuses a tier that no
    worker serves (a killed worker's poller still counts for a while after the kill)."""
    async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
        await wait_polled(client, [Tier.PAID])


async def _restart_on_exit(worker: WorkerProcess, lock: asyncio.Lock, exits: list[int]) -> None:
    """Start the worker again whenever it ended by itself, noting how it ended."""
    while True:
        async with lock:
            code = worker.exited_with()
            if code is not None:
                exits.append(code)
                worker.start()
        await asyncio.sleep(0.05)


async def _wait_model_call(
    http: httpx.AsyncClient,
    worker: WorkerProcess,
    services: Services,
    settings: Settings,
    job_ids: list[str],
    deadline: float,
) -> bool:
    """Wait until the running worker has a model call in flight: since it became ready it sent
    RunPod a /run or a /status, and the endpoint still holds a job it has not finished.

    False when every job has finished or at the deadline: the kill then lands outside one.
    (Polls are paced by each job's expected end, so a poll that finds a job running is rare:
    the worker's own requests and the endpoint's unfinished jobs tell it instead.)
    """
    health = f"/v2/{settings.runpod_endpoint_id}/health"
    auth = {"Authorization": f"Bearer {settings.runpod_api_key}"}
    baseline: int | None = None
    checks = 0
    while time.monotonic() < deadline:
        checks += 1
        if checks % 20 == 0 and _all_final(await _statuses(services, job_ids)):
            return False
        if worker.ready():
            requests = (await http.get("/_admin/stats")).json()["requests"]
            sent: int = requests["run"] + requests["status"]
            if baseline is None:
                baseline = sent
            elif sent > baseline:
                jobs = (await http.get(health, headers=auth)).json()["jobs"]
                if jobs["inProgress"] + jobs["inQueue"] > 0:
                    return True
        await asyncio.sleep(0.05)
    return False


async def _statuses(services: Services, job_ids: list[str]) -> dict[str, str]:
    def read() -> dict[str, str]:
        with services.db.session() as session:
            rows = session.exec(select(Job.id, Job.status).where(col(Job.id).in_(job_ids)))
            return {job_id: status for job_id, status in rows}

    statuses = await asyncio.to_thread(read)
    return {job_id: statuses.get(job_id, "missing") for job_id in job_ids}


def _all_final(statuses: dict[str, str]) -> bool:
    return all(s in ("completed", "failed", "cancelled") for s in statuses.values())


async def _wait_final(services: Services, job_ids: list[str], deadline: float) -> dict[str, str]:
    while True:
        statuses = await _statuses(services, job_ids)
        if _all_final(statuses) or time.monotonic() > deadline:
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
    executed: dict[str, int] = stats.get("model_executions_by_ref", {})
    duplicates = [a for a in services.model_runs.attempts(job_ids) if a.duplicate]
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
        submissions=sum(submitted.get(job_id, 0) for job_id in job_ids),
        model_calls_resumed=0,
        kills_in_model_calls=0,
        submit_window_exits=0,
        model_executions=sum(executed.get(job_id, 0) for job_id in job_ids),
        second_model_executions=sum(1 for job_id in job_ids if executed.get(job_id, 0) > 1),
        duplicate_runs=len(duplicates),
        duplicate_gpu_ms=sum(a.execution_ms or 0 for a in duplicates),
        ledger_consistent=services.credits.check_consistency([user_id]) == [],
        credits_expected=credits - charged_completed,
        credits_actual=actual,
        seconds=time.monotonic() - started,
        statuses=dict(counts),
    )
