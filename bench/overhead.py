"""Orchestration overhead: real restoration jobs against a no-op floor on the same Temporal.

Run from the repository root: python bench/overhead.py [--jobs 100] [--quick] [--only floor,real]
(in a venv without the package installed: PYTHONPATH=src python bench/overhead.py).

One embedded Temporal dev server as src ships it (TemporalDevServer: SQLite file with the WAL
pragmas, the transfer-queue read limit lifted, headless, free port) runs, in this order:
- the floor: FloorWorkflow below, with RestorationWorkflow's shape and no work: update-with-start
  like the API, the reservation a local activity inside the update, then prepare, model
  (async, as run_model is) and postprocess as activities and complete as a local activity,
  each a no-op;
- real jobs: src's RestorationWorkflow, activities and workers (tests.harness.workers.WorkerThread)
  on SQLite, local storage and the local RunPod endpoint (a `heirloom runpod-endpoint` child
  process with no extra model time; its CPU stand-in still takes ~40 ms a photo, reported as
  model time), submitted through heirloom.starters.restoration.Submitter exactly as POST /v1/jobs
  does, minus HTTP.
Prints sequential p50/p95 latency, throughput at 1/10/50 concurrent, the real/floor ratio (raw,
and without the model's own execution time), DB statements per step, CPU per process and where
a job's time goes; writes bench/results/overhead.json. Every phase is bounded in jobs and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.common import (
    Priority,
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

# The workflow sandbox re-imports this module for every FloorWorkflow run: what the workflow
# does not need is passed through from the host, and the script body sits under __main__.
with workflow.unsafe.imports_passed_through():
    from temporalio.client import Client, WithStartWorkflowOperation
    from temporalio.worker import Worker

    # First: it puts the repository root on sys.path, for tests.harness.
    import harness

    # isort: split
    from tests.harness.processes import heirloom_process, temporal_server
    from tests.harness.serving import free_port
    from tests.harness.workers import WorkerThread

    from heirloom.config import Settings
    from heirloom.db import migrate
    from heirloom.db.models import User
    from heirloom.devstack.ports import port_open
    from heirloom.domain.jobs import JobStatus
    from heirloom.domain.tiers import Tier
    from heirloom.services.context import Services
    from heirloom.starters.restoration import Submitter
    from heirloom.temporal import search_attributes

FLOOR_QUEUE = "bench-floor"
TIER = Tier.PAID
STEPS_PER_JOB = 5  # reserve, prepare, model, postprocess, complete
FLOOR_RETRY = RetryPolicy(maximum_attempts=5)
FLOOR_TIMEOUT = timedelta(seconds=30)
TARGET_RATIO = 1.3
TARGET_DB_PER_STEP = 2.0
JOB_TIMEOUT_S = 60.0
PHASE_TIMEOUT_S = 60.0
RUNPOD_KEY = "bench-key"
VARIANTS = ("floor", "real")


# --- the floor ---------------------------------------------------------------------------


@activity.defn
def floor_step(step: str) -> str:
    """A no-op step in the activity thread pool, as prepare and postprocess run."""
    return step


@activity.defn
async def floor_model(step: str) -> str:
    """A no-op step on the worker's event loop, as the async run_model runs."""
    return step


@workflow.defn
class FloorWorkflow:
    """RestorationWorkflow's happy path with no-op steps and the same local/remote split."""

    @workflow.init
    def __init__(self, job_id: str) -> None:
        self._reserved = False
        self._reserving = False

    @workflow.run
    async def run(self, job_id: str) -> str:
        await workflow.wait_condition(lambda: self._reserved)
        await self._activity(floor_step, "prepare")
        await self._activity(floor_model, "model")
        await self._activity(floor_step, "postprocess")
        await self._local("complete")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return "completed"

    @workflow.update
    async def reserve(self) -> str:
        if not self._reserved and not self._reserving:
            self._reserving = True
            await self._local("reserve")
            self._reserved = True
        await workflow.wait_condition(lambda: self._reserved)
        return "accepted"

    async def _activity(self, fn: Callable[[str], Any], step: str) -> None:
        await workflow.execute_activity(
            fn, step, start_to_close_timeout=FLOOR_TIMEOUT, retry_policy=FLOOR_RETRY
        )

    async def _local(self, step: str) -> None:
        await workflow.execute_local_activity(
            floor_step, step, start_to_close_timeout=FLOOR_TIMEOUT, retry_policy=FLOOR_RETRY
        )


@contextlib.contextmanager
def floor_worker(address: str, settings: Settings) -> Iterator[None]:
    """The floor's worker in its own thread and event loop, with src's worker limits for the
    tier (threads, activity slots, shutdown, heartbeat throttle) so only the work differs."""
    ready, stop = threading.Event(), threading.Event()

    async def serve() -> None:
        client = await Client.connect(address)
        with ThreadPoolExecutor(settings.worker_activity_threads) as executor:
            async with Worker(
                client,
                task_queue=FLOOR_QUEUE,
                workflows=[FloorWorkflow],
                activities=[floor_step, floor_model],
                activity_executor=executor,
                max_concurrent_activities=settings.worker_max_concurrent_activities[TIER],
                graceful_shutdown_timeout=timedelta(seconds=settings.worker_graceful_shutdown_s),
                max_heartbeat_throttle_interval=timedelta(seconds=1),
            ):
                ready.set()
                await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True, name="floor")
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the floor worker did not start")
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


# --- what is measured --------------------------------------------------------------------

JobRun = Callable[[], Awaitable[tuple[float, float, str]]]


def floor_job(client: Client) -> JobRun:
    async def run() -> tuple[float, float, str]:
        job_id = uuid.uuid4().hex
        start = WithStartWorkflowOperation(
            FloorWorkflow.run,
            job_id,
            id=job_id,
            task_queue=FLOOR_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(search_attributes.USER_ID, "floor-user"),
                    SearchAttributePair(search_attributes.TIER, TIER.value),
                    SearchAttributePair(search_attributes.JOB_STATUS, "queued"),
                ]
            ),
            priority=Priority.default,
        )
        t0 = time.perf_counter()
        await client.execute_update_with_start_workflow(
            FloorWorkflow.reserve, start_workflow_operation=start, id=f"reserve-{job_id}"
        )
        accepted = time.perf_counter() - t0
        await (await start.workflow_handle()).result()
        return accepted, time.perf_counter() - t0, job_id

    return run


def real_job(client: Client, submitter: Submitter, users: list[User], photo: bytes) -> JobRun:
    counter = iter(range(1 << 30))

    async def run() -> tuple[float, float, str]:
        user = users[next(counter) % len(users)]
        t0 = time.perf_counter()
        submission = await submitter.submit(
            user, data=photo, operations="restore", idempotency_key=None
        )
        accepted = time.perf_counter() - t0
        outcome = await client.get_workflow_handle(submission.job.id).result()
        if outcome["status"] != JobStatus.COMPLETED:
            raise RuntimeError(f"job {submission.job.id} ended {outcome}")
        return accepted, time.perf_counter() - t0, submission.job.id

    return run


async def sequential(run: JobRun, jobs: int) -> list[tuple[float, float, str]]:
    """One job after another, at most `jobs` of them and PHASE_TIMEOUT_S in all."""
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    done: list[tuple[float, float, str]] = []
    while len(done) < jobs and time.monotonic() < deadline:
        done.append(await asyncio.wait_for(run(), JOB_TIMEOUT_S))
    return done


async def closed_loop(run: JobRun, concurrency: int, jobs: int) -> dict[str, Any]:
    """`concurrency` clients each starting the next job when theirs ends, `jobs` in all."""
    remaining = jobs
    latencies: list[float] = []
    deadline = time.monotonic() + PHASE_TIMEOUT_S

    async def client_loop() -> None:
        nonlocal remaining
        while remaining > 0 and time.monotonic() < deadline:
            remaining -= 1
            _accepted, total, _job = await asyncio.wait_for(run(), JOB_TIMEOUT_S)
            latencies.append(total)

    t0 = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {
        "concurrency": concurrency,
        "jobs": len(latencies),
        "elapsed_s": elapsed,
        "jobs_per_s": len(latencies) / elapsed,
        "latency_ms": harness.summary_ms(latencies),
    }


async def history_breakdown(client: Client, job_ids: Sequence[str]) -> dict[str, Any]:
    """From workflow histories (ms): how long the run was open, its workflow tasks, per
    activity the wait for a worker and the run time, and the model's own execution time as
    RunPod reported it. Local activities (reserve, complete) run inside workflow tasks."""
    waits: dict[str, list[float]] = {}
    runs: dict[str, list[float]] = {}
    spans: list[float] = []
    busy_by_job: dict[str, float] = {}
    tasks_per_job: list[int] = []
    local_per_job: list[int] = []
    model_ms: dict[str, float] = {}
    for job_id in job_ids:
        events = (await client.get_workflow_handle(job_id).fetch_history()).events
        scheduled: dict[int, tuple[str, float]] = {}
        started: dict[int, float] = {}
        busy = 0.0
        tasks = local = 0
        for event in events:
            at = event.event_time.ToNanoseconds() / 1e6
            if event.HasField("workflow_task_completed_event_attributes"):
                tasks += 1
            elif event.HasField("marker_recorded_event_attributes"):
                local += event.marker_recorded_event_attributes.marker_name == "core_local_activity"
            elif event.HasField("activity_task_scheduled_event_attributes"):
                name = event.activity_task_scheduled_event_attributes.activity_type.name
                scheduled[event.event_id] = (name, at)
            elif event.HasField("activity_task_started_event_attributes"):
                sched_id = event.activity_task_started_event_attributes.scheduled_event_id
                started[sched_id] = at
                name, sched_at = scheduled[sched_id]
                waits.setdefault(name, []).append(at - sched_at)
            elif event.HasField("activity_task_completed_event_attributes"):
                attrs = event.activity_task_completed_event_attributes
                name, _ = scheduled[attrs.scheduled_event_id]
                runs.setdefault(name, []).append(at - started[attrs.scheduled_event_id])
                busy += at - started[attrs.scheduled_event_id]
                if name == "run_model" and attrs.result.payloads:
                    result = json.loads(attrs.result.payloads[0].data)
                    model_ms[job_id] = float(result.get("execution_time_ms") or 0)
        first, last = events[0].event_time.ToNanoseconds(), events[-1].event_time.ToNanoseconds()
        spans.append((last - first) / 1e6)
        busy_by_job[job_id] = busy
        tasks_per_job.append(tasks)
        local_per_job.append(local)
    return {
        "workflow_open_ms_p50": statistics.median(spans),
        "inside_activities_ms_p50": statistics.median(busy_by_job.values()),
        "inside_activities_ms": busy_by_job,
        "workflow_tasks_per_job": statistics.fmean(tasks_per_job),
        "local_activities_per_job": statistics.fmean(local_per_job),
        "model_execution_ms_p50": statistics.median(model_ms.values()) if model_ms else 0.0,
        "model_execution_ms": model_ms,
        "activities": {
            name: {
                "wait_ms_p50": statistics.median(waits[name]),
                "run_ms_p50": statistics.median(runs.get(name, [float("nan")])),
            }
            for name in waits
        },
    }


@dataclass(frozen=True)
class Stack:
    """What both variants run on: one Temporal server, one database, one RunPod endpoint."""

    address: str
    cpu: harness.CpuMeter
    home: Path
    database_url: str
    runpod_url: str
    photo: bytes


async def measure(
    client: Client,
    run: JobRun,
    stack: Stack,
    args: argparse.Namespace,
    counters: dict[str, harness.StatementCounter],
) -> dict[str, Any]:
    await sequential(run, args.warmup)
    for counter in counters.values():
        counter.reset()
    cpu0 = stack.cpu.sample()
    t0 = time.perf_counter()
    done = await sequential(run, args.jobs)
    elapsed = time.perf_counter() - t0
    cpu = stack.cpu.since(stack.cpu.sample(), cpu0)
    db = {name: counter.snapshot() for name, counter in counters.items()}
    texts = {name: counter.statement_texts() for name, counter in counters.items()}
    history = await history_breakdown(client, [job for _, _, job in done])
    model_ms = history.pop("model_execution_ms")
    busy_ms = history.pop("inside_activities_ms")
    result: dict[str, Any] = {
        "jobs": len(done),
        "accept_ms": harness.summary_ms([accepted for accepted, _, _ in done]),
        "end_to_end_ms": harness.summary_ms([total for _, total, _ in done]),
        # The CPU stand-in's own time is the model's, not orchestration: leave it out.
        "end_to_end_minus_model_ms": harness.summary_ms(
            [total - model_ms.get(job, 0.0) / 1000 for _, total, job in done]
        ),
        # What is left without the (remote) activities' own run time: orchestration.
        "end_to_end_minus_activities_ms": harness.summary_ms(
            [total - busy_ms.get(job, 0.0) / 1000 for _, total, job in done]
        ),
        "cpu_ms_per_job": {name: s * 1000 / len(done) for name, s in cpu.items()},
        "throughput": [
            {
                "concurrency": 1,
                "jobs": len(done),
                "elapsed_s": elapsed,
                "jobs_per_s": len(done) / elapsed,
                "latency_ms": harness.summary_ms([total for _, total, _ in done]),
                "cpu_cores_busy": {name: s / elapsed for name, s in cpu.items()},
            }
        ],
        "db": db,
        # Per side and activity, each statement's count per job.
        "db_statements": {
            side: {
                caller: {text: count / len(done) for text, count in counts.items()}
                for caller, counts in by_caller.items()
            }
            for side, by_caller in texts.items()
        },
        "history": history,
    }
    for concurrency in args.concurrency:
        jobs = max(args.min_jobs, concurrency * args.jobs_per_client)
        cpu0 = stack.cpu.sample()
        phase = await closed_loop(run, concurrency, jobs)
        cpu = stack.cpu.since(stack.cpu.sample(), cpu0)
        phase["cpu_cores_busy"] = {name: s / phase["elapsed_s"] for name, s in cpu.items()}
        phase["cpu_ms_per_job"] = {name: s * 1000 / phase["jobs"] for name, s in cpu.items()}
        result["throughput"].append(phase)
    return result


def db_per_step(db: dict[str, dict[str, dict[str, int]]], jobs: int) -> dict[str, Any]:
    """Statements, commits and checkouts per job and per step, worker side and API side."""

    def total(side: str, kind: str) -> int:
        return sum(db.get(side, {}).get(kind, {}).values())

    statements, commits = total("worker", "statements"), total("worker", "commits")
    return {
        "worker_statements_per_job": statements / jobs,
        "worker_commits_per_job": commits / jobs,
        "worker_checkouts_per_job": total("worker", "checkouts") / jobs,
        "statements_per_step": statements / jobs / STEPS_PER_JOB,
        "statements_and_commits_per_step": (statements + commits) / jobs / STEPS_PER_JOB,
        "by_activity_per_job": {
            name: round(count / jobs, 2)
            for name, count in db.get("worker", {}).get("statements", {}).items()
        },
        "api_statements_per_job": total("api", "statements") / jobs,
        "api_commits_per_job": total("api", "commits") / jobs,
    }


async def run_floor(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    client = await Client.connect(stack.address)
    with floor_worker(stack.address, Settings()):
        return await measure(client, floor_job(client), stack, args, {})


async def run_real(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """src as shipped: its settings but for where things are, its worker, its Submitter."""
    settings = Settings(
        home=stack.home,
        database_url=stack.database_url,
        temporal_address=stack.address,
        runpod_api_key=RUNPOD_KEY,
        runpod_base_url=f"{stack.runpod_url}/v2",
        worker_tiers=[TIER],
        # The bench keeps many jobs in flight, more than a day's cap.
        tier_rules={TIER: {"max_active_jobs": None, "daily_job_limit": None}},
    )
    client = await Client.connect(stack.address)
    api_services = Services.build(settings)
    # As run_worker builds them: one connection per activity thread.
    worker_services = Services.build(settings, pool_size=settings.worker_activity_threads)
    counters = {"api": harness.StatementCounter(), "worker": harness.StatementCounter()}
    counters["api"].attach(api_services.db.engine)
    counters["worker"].attach(worker_services.db.engine)
    users = [
        api_services.accounts.create(
            email=f"bench-{i}@bench.local", tier=TIER, credits=1_000_000
        ).user
        for i in range(10)
    ]
    try:
        with WorkerThread(worker_services):
            job = real_job(client, Submitter(api_services, client), users, stack.photo)
            result = await measure(client, job, stack, args, counters)
    finally:
        api_services.close()
        worker_services.close()
    result["db_per_step"] = db_per_step(result["db"], result["jobs"])
    return result


async def main_async(args: argparse.Namespace) -> tuple[dict[str, dict[str, Any]], list[str]]:
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="heirloom-bench-") as tmp:
        home = Path(tmp)
        port = free_port()
        with (
            heirloom_process(
                ["runpod-endpoint"],
                {
                    "HEIRLOOM_HOME": str(home / "runpod"),
                    "HEIRLOOM_RUNPOD_API_KEY": RUNPOD_KEY,
                    "HEIRLOOM_DEVSTACK_RUNPOD_PORT": str(port),
                    "HEIRLOOM_DEVSTACK_RUNPOD_WORKERS": str(args.gpus),
                },
                ready=lambda: port_open("127.0.0.1", port),
                log=home / "runpod-endpoint.log",
            ) as endpoint,
            temporal_server(home) as server,
            contextlib.ExitStack() as stack_db,
        ):
            database_url = stack_db.enter_context(harness.scratch_database(args.database_url, home))
            migrate.upgrade(database_url)
            assert server.process is not None
            stack = Stack(
                address=server.address,
                cpu=harness.CpuMeter({"temporal": server.process.pid, "runpod": endpoint.pid}),
                home=home,
                database_url=database_url,
                runpod_url=f"http://127.0.0.1:{port}",
                photo=harness.photo_jpeg(320, 240),
            )
            for name, runner in (("floor", run_floor), ("real", run_real)):
                if name in args.only:
                    print(f"... {name}", flush=True)
                    results[name] = await runner(stack, args)
            return results, harness.server_flags(server)


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """p50 real / p50 floor: raw, without the model's own time, and orchestration only (each
    side without its remote activities' run time)."""
    if "real" not in results or "floor" not in results:
        return {}
    real, floor = results["real"], results["floor"]
    floor_p50 = floor["end_to_end_ms"]["p50"]
    return {
        "raw": real["end_to_end_ms"]["p50"] / floor_p50,
        "minus_model": real["end_to_end_minus_model_ms"]["p50"] / floor_p50,
        "orchestration": real["end_to_end_minus_activities_ms"]["p50"]
        / floor["end_to_end_minus_activities_ms"]["p50"],
    }


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nSequential jobs after {args.warmup} warm-up (ms); '-model' leaves out the model's "
        "own execution time (the CPU stand-in's), '-activities' all remote activities' run "
        "time; CPU ms per job by process (python: client, API side and worker):"
    )
    rows = []
    for key, r in results.items():
        e2e, cpu = r["end_to_end_ms"], r["cpu_ms_per_job"]
        rows.append(
            [
                key,
                r["jobs"],
                r["accept_ms"]["p50"],
                e2e["p50"],
                e2e["p95"],
                r["end_to_end_minus_model_ms"]["p50"],
                r["end_to_end_minus_activities_ms"]["p50"],
                f"{cpu['bench']:.0f}/{cpu['temporal']:.0f}/{cpu['runpod']:.0f}",
            ]
        )
    harness.print_table(
        [
            "variant",
            "jobs",
            "accept p50",
            "e2e p50",
            "e2e p95",
            "-model p50",
            "-activities p50",
            "cpu py/tmp/rp",
        ],
        rows,
    )

    print(
        "\nThroughput, jobs/s, closed loop [p50 latency ms; CPU cores busy: python (client, "
        "API side, worker) + temporal + runpod]:"
    )
    levels = [1, *args.concurrency]
    rows = []
    for key, r in results.items():
        by_c = {t["concurrency"]: t for t in r["throughput"]}
        cells: list[object] = [key]
        for c in levels:
            t = by_c.get(c)
            if t is None:
                cells.append("-")
                continue
            busy = t["cpu_cores_busy"]
            cores = "+".join(f"{busy[n]:.1f}" for n in ("bench", "temporal", "runpod"))
            cells.append(f"{t['jobs_per_s']:.1f} [{t['latency_ms']['p50']:.0f}; {cores}]")
        rows.append(cells)
    harness.print_table(["variant", *(f"c={c}" for c in levels)], rows)

    if (d := results.get("real", {}).get("db_per_step")) is not None:
        print("\nDB per job (worker side) and per step; API side statements per submission:")
        harness.print_table(
            ["stmts", "stmts/step", "+commits/step", "sessions", "stmts by activity", "api"],
            [
                [
                    d["worker_statements_per_job"],
                    d["statements_per_step"],
                    d["statements_and_commits_per_step"],
                    d["worker_checkouts_per_job"],
                    " ".join(f"{k}={v:g}" for k, v in sorted(d["by_activity_per_job"].items())),
                    d["api_statements_per_job"],
                ]
            ],
        )

    if args.statements and (texts := results.get("real", {}).get("db_statements")):
        print("\nStatements per job by side and activity (literals folded to $):")
        for side, by_caller in texts.items():
            for caller, counts in sorted(by_caller.items()):
                print(f"  {side} / {caller}: {sum(counts.values()):.2f}")
                for text, count in counts.items():
                    print(f"    {count:6.2f}  {text[:200]}")

    print(
        "\nWhere a job's time goes (workflow history p50, ms; activity = wait+run; "
        "reserve and complete are local activities inside workflow tasks):"
    )
    rows = []
    for key, r in results.items():
        h = r["history"]
        acts = " ".join(
            f"{k}={v['wait_ms_p50']:.0f}+{v['run_ms_p50']:.0f}" for k, v in h["activities"].items()
        )
        rows.append(
            [
                key,
                h["workflow_open_ms_p50"],
                h["workflow_tasks_per_job"],
                h["local_activities_per_job"],
                h["inside_activities_ms_p50"],
                h["model_execution_ms_p50"],
                acts,
            ]
        )
    harness.print_table(
        ["variant", "wf open", "wf tasks", "local acts", "in activities", "model", "activities"],
        rows,
    )

    print(
        f"\ntargets: p50 real / floor <= {TARGET_RATIO}; <= {TARGET_DB_PER_STEP:g} DB "
        "statements per step"
    )
    ratio = ratios(results)
    if ratio:
        print(
            "  ratio "
            + "  ".join(
                f"{name.replace('_', ' ')} {value:.2f} {_verdict(value, TARGET_RATIO)}"
                for name, value in ratio.items()
            )
        )
    if (d := results.get("real", {}).get("db_per_step")) is not None:
        per_step, with_commits = d["statements_per_step"], d["statements_and_commits_per_step"]
        print(
            f"  DB {per_step:.2f} statements/step {_verdict(per_step, TARGET_DB_PER_STEP)} "
            f"({with_commits:.2f} with commits {_verdict(with_commits, TARGET_DB_PER_STEP)})"
        )


# (label, dotted path in a results report, the floor's path or "")
COMPARED = [
    ("DB statements per job", "results.real.db_per_step.worker_statements_per_job", ""),
    ("DB statements per step", "results.real.db_per_step.statements_per_step", ""),
    ("DB commits per job", "results.real.db_per_step.worker_commits_per_job", ""),
    ("+ commits per step", "results.real.db_per_step.statements_and_commits_per_step", ""),
    ("sessions (checkouts) per job", "results.real.db_per_step.worker_checkouts_per_job", ""),
    ("API statements per submission", "results.real.db_per_step.api_statements_per_job", ""),
    ("API commits per submission", "results.real.db_per_step.api_commits_per_job", ""),
    (
        "CPU ms/job python",
        "results.real.cpu_ms_per_job.bench",
        "results.floor.cpu_ms_per_job.bench",
    ),
    (
        "CPU ms/job temporal",
        "results.real.cpu_ms_per_job.temporal",
        "results.floor.cpu_ms_per_job.temporal",
    ),
    ("e2e p50 ms", "results.real.end_to_end_ms.p50", "results.floor.end_to_end_ms.p50"),
    (
        "e2e p50 ms without the model",
        "results.real.end_to_end_minus_model_ms.p50",
        "results.floor.end_to_end_minus_model_ms.p50",
    ),
    ("ratio raw", "ratios.raw", ""),
    ("ratio without the model", "ratios.minus_model", ""),
    ("ratio orchestration", "ratios.orchestration", ""),
    ("load average (1 min) at end", "environment.loadavg_at_end.0", ""),
]


def compare(before: dict[str, Any], now: dict[str, Any], ref: str) -> None:
    """This run's figures beside the floor's and beside the code at `ref`, run just before."""
    now.setdefault("environment", {})["loadavg_at_end"] = list(os.getloadavg())
    print(f"\nBeside the floor and the code at {ref} (same machine, this invocation):")
    rows = []
    for label, path, floor_path in COMPARED:
        floor = harness.dig(now, floor_path) if floor_path else float("nan")
        rows.append(
            [label, _num(floor), _num(harness.dig(before, path)), _num(harness.dig(now, path))]
        )
    harness.print_table(["figure", "floor", ref, "now"], rows)


def _num(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _verdict(value: float, bound: float) -> str:
    return "n/a" if math.isnan(value) else "ok" if value <= bound else "MISS"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100, help="sequential jobs per variant")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--concurrency", type=int, nargs="*", default=[10, 50])
    parser.add_argument("--jobs-per-client", type=int, default=4)
    parser.add_argument("--min-jobs", type=int, default=40)
    parser.add_argument("--gpus", type=int, default=4, help="simulated RunPod workers")
    parser.add_argument("--quick", action="store_true", help="20 jobs, 3 warm-up, c=10 only")
    parser.add_argument(
        "--only",
        type=lambda s: s.split(","),
        default=list(VARIANTS),
        help="floor, real or both (the ratio needs both)",
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres): "
        "the run uses a new database on it, dropped after; default a SQLite file",
    )
    parser.add_argument(
        "--before",
        metavar="REF",
        help="first run this script against commit REF's src (a temporary git worktree), same "
        "arguments, and print its figures beside this run's (e.g. --before e7d6118)",
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="print each SQL statement the real jobs ran, per job, by activity",
    )
    parser.add_argument("--results-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    before = None
    if args.before:
        argv = list(sys.argv[1:] if argv is None else argv)
        before = harness.run_before(args.before, Path(__file__), harness.before_argv(argv))
    if args.quick:
        args.jobs, args.warmup, args.concurrency, args.min_jobs = 20, 3, [10], 20
    env = harness.environment()
    results, server_flags = asyncio.run(main_async(args))
    report(results, args)
    full = {
        "environment": env,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "temporal_dev_server": server_flags,
        "ratios": ratios(results),
        "results": results,
    }
    if before is not None:
        full["before"] = {"ref": args.before, "report": before}
        compare(before, full, args.before)
    path = harness.write_results("overhead", full, args.results_file)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
