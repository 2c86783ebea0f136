"""API benchmark: POST /v1/jobs and GET /v1/jobs/{id} over HTTP against the whole stack.

Run from the repository root: python bench/api.py [--quick] [--model-ms 0,2000]
(in a venv without the package installed: PYTHONPATH=src python bench/api.py).

The stack runs as production runs it, src as shipped, one process each: the embedded Temporal
dev server (TemporalDevServer: SQLite file + WAL pragmas, transfer-queue read limit lifted),
`heirloom runpod-endpoint`, `heirloom worker --tiers paid` and `heirloom api`, on one SQLite
database (or a new database on the PostgreSQL server --database-url names) and local storage.
This process creates paid users with credits (Services.accounts.create) and drives the API
with concurrent httpx clients:
1. closed loop: --clients submitters, each POSTs a 320x240 JPEG then GETs its job;
2. target: open loop at --rate submissions/min for --duration seconds, with --readers status
   readers beside it (a GET every 50 ms each);
3. status: 1,000 job rows seeded into the database, read by 1, 4 and 16 closed-loop readers.
One fresh stack per --model-ms value (simulated GPU time per job on top of the CPU stand-in,
on --gpus simulated GPU workers): the first runs every phase, the others only the target
phase, to show what seconds of model time do to submissions. Prints submissions/min, p50/p99
of both routes, where POST time goes and CPU per process and per submission; writes
bench/results/api.json. Every phase is bounded in time and requests in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import col, func, select
from temporalio.client import Client

# First: it puts the repository root on sys.path, for tests.harness.
import harness

# isort: split
from tests.harness.processes import process_stack

from heirloom.db.models import Job
from heirloom.domain.jobs import JobStatus, Stage
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services

TARGET_RATE_PER_MIN = 500
TARGET_POST_P99_MS = 200.0
TARGET_GET_P99_MS = 20.0
SEEDED_JOBS = 1_000
REQUEST_TIMEOUT_S = 10.0
MAX_IN_FLIGHT = 200
READER_PAUSE_S = 0.05
PROCESSES = ("api", "worker", "temporal", "runpod", "bench")


class Recorder:
    """Latencies and status codes of one route in one phase."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.codes: Counter[str] = Counter()

    def add(self, started: float, response: httpx.Response | None) -> None:
        self.seconds.append(time.perf_counter() - started)
        self.codes[str(response.status_code) if response is not None else "error"] += 1

    def summary(self) -> dict[str, Any]:
        return {**harness.summary_ms(self.seconds), "codes": dict(self.codes)}


class Load:
    """The API under test: users with keys, the jobs they submitted, an HTTP client."""

    def __init__(self, http: httpx.AsyncClient, keys: list[str], photo: bytes) -> None:
        self.http = http
        self.keys = keys
        self.photo = photo
        self.jobs: list[tuple[str, str]] = []  # (api key, job id)
        self.post_ms: dict[str, float] = {}  # job id: its POST's latency

    async def submit(self, record: Recorder) -> str | None:
        key = random.choice(self.keys)
        started = time.perf_counter()
        response = None
        with contextlib.suppress(httpx.HTTPError):
            response = await self.http.post(
                "/v1/jobs",
                headers={"Authorization": f"Bearer {key}"},
                files={"file": ("photo.jpg", self.photo, "image/jpeg")},
                data={"operations": "restore"},
            )
        record.add(started, response)
        if response is None or response.status_code != 202:
            return None
        job_id = str(response.json()["id"])
        self.jobs.append((key, job_id))
        self.post_ms[job_id] = (time.perf_counter() - started) * 1000
        return job_id

    async def read(self, record: Recorder, key: str, job_id: str) -> None:
        started = time.perf_counter()
        response = None
        with contextlib.suppress(httpx.HTTPError):
            response = await self.http.get(
                f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}
            )
        record.add(started, response)


async def closed_submitters(load: Load, clients: int, seconds: float) -> dict[str, Any]:
    """Each client: POST a job, GET it, again, until the time is up."""
    posts, gets = Recorder(), Recorder()
    deadline = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < deadline:
            job_id = await load.submit(posts)
            if job_id is not None:
                await load.read(gets, load.jobs[-1][0], job_id)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - t0
    return {
        "clients": clients,
        "elapsed_s": elapsed,
        "submissions_per_min": posts.codes["202"] / elapsed * 60,
        "post": posts.summary(),
        "get": gets.summary(),
    }


async def open_loop(
    load: Load, rate_per_min: float, seconds: float, readers: int
) -> dict[str, Any]:
    """Submissions at a fixed rate (never more than MAX_IN_FLIGHT at once), readers beside."""
    posts, gets = Recorder(), Recorder()
    interval = 60.0 / rate_per_min
    stop = asyncio.Event()
    in_flight: set[asyncio.Task[str | None]] = set()
    skipped = 0

    async def reader() -> None:
        while not stop.is_set():
            if load.jobs:
                key, job_id = random.choice(load.jobs[-200:])
                await load.read(gets, key, job_id)
            await asyncio.sleep(READER_PAUSE_S)

    reader_tasks = [asyncio.create_task(reader()) for _ in range(readers)]
    t0 = time.perf_counter()
    sent = 0
    while (now := time.perf_counter() - t0) < seconds:
        due = sent * interval
        if now < due:
            await asyncio.sleep(due - now)
            continue
        sent += 1
        if len(in_flight) >= MAX_IN_FLIGHT:
            skipped += 1
            continue
        task = asyncio.create_task(load.submit(posts))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.wait_for(asyncio.gather(*in_flight), REQUEST_TIMEOUT_S + 5)
    elapsed = time.perf_counter() - t0
    stop.set()
    await asyncio.gather(*reader_tasks)
    return {
        "rate_per_min": rate_per_min,
        "readers": readers,
        "elapsed_s": elapsed,
        "submissions_per_min": posts.codes["202"] / elapsed * 60,
        "skipped_at_in_flight_cap": skipped,
        "post": posts.summary(),
        "get": gets.summary(),
    }


async def closed_readers(
    load: Load, jobs: Sequence[tuple[str, str]], readers: int, seconds: float
) -> dict[str, Any]:
    gets = Recorder()
    deadline = time.monotonic() + seconds

    async def reader() -> None:
        while time.monotonic() < deadline:
            key, job_id = random.choice(jobs)
            await load.read(gets, key, job_id)

    t0 = time.perf_counter()
    await asyncio.gather(*(reader() for _ in range(readers)))
    elapsed = time.perf_counter() - t0
    return {
        "readers": readers,
        "elapsed_s": elapsed,
        "reads_per_s": len(gets.seconds) / elapsed,
        "get": gets.summary(),
    }


def seed_jobs(
    services: Services, owners: list[tuple[str, str]], count: int
) -> list[tuple[str, str]]:
    """`count` job rows spread over `owners` (user id, key), inserted directly."""
    now = datetime.now(UTC)
    rows = []
    picked = []
    statuses = [JobStatus.COMPLETED, JobStatus.COMPLETED, JobStatus.RUNNING, JobStatus.FAILED]
    for i in range(count):
        user_id, key = owners[i % len(owners)]
        job_id = uuid.uuid4().hex
        status = statuses[i % len(statuses)]
        done = status == JobStatus.COMPLETED
        rows.append(
            {
                "id": job_id,
                "user_id": user_id,
                "operations": "restore",
                "tier": Tier.PAID.value,
                "status": status.value,
                "stage": Stage.DONE.value if status.is_final else Stage.PROCESSING.value,
                "progress": 100 if status.is_final else 40,
                "cost": 2,
                "refunded": 2 if status == JobStatus.FAILED else 0,
                "original_key": f"users/{user_id}/jobs/{job_id}/original.jpg",
                "result_key": f"users/{user_id}/jobs/{job_id}/result.jpg" if done else None,
                "thumbnail_key": f"users/{user_id}/jobs/{job_id}/thumbnail.jpg" if done else None,
                "comparison_key": f"users/{user_id}/jobs/{job_id}/comparison.jpg" if done else None,
                "error_code": "model_failed" if status == JobStatus.FAILED else None,
                "error_message": "The model failed." if status == JobStatus.FAILED else None,
                "created_at": now - timedelta(minutes=i),
                "updated_at": now,
            }
        )
        picked.append((key, job_id))
    with services.db.session() as session:
        session.execute(sa.insert(Job), rows)
    return picked


def job_counts(services: Services) -> dict[str, int]:
    with services.db.session() as session:
        rows = session.exec(select(Job.status, func.count()).group_by(col(Job.status))).all()
    return {status: int(count) for status, count in rows}


async def post_breakdown(
    address: str, post_ms: dict[str, float], job_ids: Sequence[str]
) -> dict[str, Any]:
    """Where the POST time of `job_ids` went, from the workflows' histories (ms after the
    start event): the wait for and run of the first workflow task (the reservation, a local
    activity, runs inside it) and the update's completion; "API's own" is the rest of the POST
    (upload, checks, storing the original, the RPC, reading the job row, the response)."""
    client = await Client.connect(address)
    parts: dict[str, list[float]] = {}
    for job_id in job_ids:
        events = (await client.get_workflow_handle(job_id).fetch_history()).events
        start = events[0].event_time.ToNanoseconds() / 1e6
        first_task: dict[str, float] = {}
        for event in events:
            at = event.event_time.ToNanoseconds() / 1e6 - start
            kind = event.WhichOneof("attributes")
            if kind == "workflow_task_started_event_attributes" and "started" not in first_task:
                first_task["started"] = at
                parts.setdefault("first workflow task wait", []).append(at)
            elif kind == "workflow_task_completed_event_attributes" and "done" not in first_task:
                first_task["done"] = at
                parts.setdefault("first workflow task run", []).append(at - first_task["started"])
            elif kind == "workflow_execution_update_completed_event_attributes":
                parts.setdefault("update done after start", []).append(at)
                parts.setdefault("API's own", []).append(post_ms[job_id] - at)
                break
        parts.setdefault("POST", []).append(post_ms[job_id])
    return {name: {"p50": harness.percentile(v, 50), "max": max(v)} for name, v in parts.items()}


def breakdown_samples(post_ms: dict[str, float], job_ids: Sequence[str]) -> dict[str, list[str]]:
    """40 submissions spread over the phase, and its slowest 1% (at least 3)."""
    slowest = sorted(job_ids, key=post_ms.__getitem__, reverse=True)
    return {
        "sample": list(job_ids[:: max(1, len(job_ids) // 40)]),
        "slowest": slowest[: max(3, len(job_ids) // 100)],
    }


async def run_stack(model_ms: int, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Start one stack, run its phases, stop it."""
    full = model_ms == args.model_ms[0]
    env = {
        "HEIRLOOM_FAULTS__EXECUTION_MS": str(model_ms),
        "HEIRLOOM_TIER_RULES": '{"paid": {"max_active_jobs": null, "daily_job_limit": null}}',
    }
    worker = ["--tiers", Tier.PAID.value]
    with (
        harness.scratch_database(args.database_url, home) as database_url,
        process_stack(
            home, gpus=args.gpus, worker=worker, env=env, database_url=database_url
        ) as stack,
    ):
        server, services, api_url = stack.server, stack.services, stack.api_url
        accounts = [
            services.accounts.create(email=f"load-{i}@bench.local", tier=Tier.PAID, credits=10**7)
            for i in range(args.users)
        ]
        label = f"model {model_ms} ms"
        cpu = harness.CpuMeter(stack.pids)
        limits = httpx.Limits(max_connections=MAX_IN_FLIGHT + 50)
        async with httpx.AsyncClient(
            base_url=api_url, timeout=REQUEST_TIMEOUT_S, limits=limits
        ) as http:
            load = Load(http, [a.api_key for a in accounts], harness.photo_jpeg(320, 240))
            await closed_submitters(load, 2, args.warmup)  # connections, caches, imports
            result: dict[str, Any] = {
                "model_ms": model_ms,
                "temporal_dev_server": harness.server_flags(server),
                "database": sa.engine.make_url(database_url).get_backend_name(),
            }
            phases: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = [
                ("target", lambda: open_loop(load, args.rate, args.duration, args.readers))
            ]
            if full and args.max_seconds > 0:
                closed = functools.partial(closed_submitters, load, args.clients, args.max_seconds)
                phases.insert(0, ("max", closed))
            for name, phase in phases:
                print(f"... {label}: {name}", flush=True)
                first = len(load.jobs)
                result[name] = await _with_cpu(cpu, phase)
                samples = breakdown_samples(load.post_ms, [j for _, j in load.jobs[first:]])
                result[name]["post_breakdown_ms"] = {
                    kind: await post_breakdown(server.address, load.post_ms, jobs)
                    for kind, jobs in samples.items()
                }
            result["jobs_after_load"] = job_counts(services)
            if full and args.status_readers:
                seeded = seed_jobs(
                    services, [(a.user.id, a.api_key) for a in accounts], SEEDED_JOBS
                )
                result["jobs_in_db"] = sum(job_counts(services).values())
                result["status"] = []
                for readers in args.status_readers:
                    print(f"... {label}: status, {readers} readers", flush=True)
                    result["status"].append(
                        await _with_cpu(
                            cpu,
                            functools.partial(
                                closed_readers, load, seeded, readers, args.status_seconds
                            ),
                        )
                    )
        return result


async def _with_cpu(
    cpu: harness.CpuMeter, phase: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    before = cpu.sample()
    result = await phase()
    spent = cpu.since(cpu.sample(), before)
    result["cpu_cores_busy"] = {name: s / result["elapsed_s"] for name, s in spent.items()}
    if accepted := result.get("post", {}).get("codes", {}).get("202"):
        # Per accepted submission, whatever else the phase did (its GETs, the jobs' run).
        result["cpu_ms_per_submission"] = {name: s * 1000 / accepted for name, s in spent.items()}
    return result


def report(results: dict[str, dict[str, Any]]) -> None:
    def codes(summary: dict[str, Any]) -> str:
        return ",".join(f"{k}:{v}" for k, v in summary["codes"].items())

    def cores(busy: dict[str, float]) -> str:
        return " ".join(f"{busy[name]:.2f}" for name in PROCESSES)

    for r in results.values():
        print(
            f"\nSubmissions, model {r['model_ms']} ms: POST /v1/jobs (and GET /v1/jobs/{{id}} "
            f"beside it), ms; CPU cores busy per process ({' '.join(PROCESSES)}):"
        )
        rows = []
        for phase in (p for p in ("max", "target") if p in r):
            p = r[phase]
            label = (
                f"closed, {p['clients']} clients"
                if phase == "max"
                else f"{p['rate_per_min']:.0f}/min + {p['readers']} readers"
            )
            rows.append(
                [
                    label,
                    p["submissions_per_min"],
                    p["post"]["p50"],
                    p["post"]["p99"],
                    p["get"]["p50"],
                    p["get"]["p99"],
                    codes(p["post"]),
                    cores(p["cpu_cores_busy"]),
                ]
            )
        harness.print_table(
            ["load", "subm/min", "POST p50", "POST p99", "GET p50", "GET p99", "codes", "cores"],
            rows,
        )
        print(f"  job rows after the load phases: {r['jobs_after_load']}")

    print(
        "\nWhere POST time goes, from workflow histories (ms, p50 and max of 40 submissions "
        "spread over the phase, and of its slowest 1%): the first workflow task's wait and run "
        "(the reservation runs in it as a local activity), the update's completion after the "
        "start event, and the API's own work (the rest of the POST):"
    )
    columns = (
        "POST",
        "first workflow task wait",
        "first workflow task run",
        "update done after start",
        "API's own",
    )
    rows = []
    for key, r in results.items():
        for phase in (p for p in ("max", "target") if p in r):
            for kind, parts in r[phase]["post_breakdown_ms"].items():
                rows.append(
                    [key, phase, kind]
                    + [
                        f"{parts[k]['p50']:.0f}/{parts[k]['max']:.0f}" if k in parts else "-"
                        for k in columns
                    ]
                )
    harness.print_table(
        ["scenario", "load", "jobs", "POST", "1st task wait", "1st task run", "update", "API"],
        rows,
    )

    print(
        "\nCPU ms per accepted submission in the target phase (with the readers' GETs and the "
        "jobs' own run):"
    )
    harness.print_table(
        ["scenario", *PROCESSES],
        [
            [key, *(r["target"]["cpu_ms_per_submission"][name] for name in PROCESSES)]
            for key, r in results.items()
            if "cpu_ms_per_submission" in r["target"]
        ],
    )

    status_rows = [
        [
            key,
            s["readers"],
            s["reads_per_s"],
            s["get"]["p50"],
            s["get"]["p99"],
            codes(s["get"]),
            cores(s["cpu_cores_busy"]),
        ]
        for key, r in results.items()
        for s in r.get("status", [])
    ]
    if status_rows:
        jobs = next(r["jobs_in_db"] for r in results.values() if "jobs_in_db" in r)
        print(f"\nStatus only: GET /v1/jobs/{{id}} of seeded jobs ({jobs:,} rows in the DB), ms:")
        harness.print_table(
            ["scenario", "readers", "reads/s", "GET p50", "GET p99", "codes", "cores"],
            status_rows,
        )

    print(
        f"\ntargets: {TARGET_RATE_PER_MIN} submissions/min sustained with POST p99 < "
        f"{TARGET_POST_P99_MS:.0f} ms; GET p99 < {TARGET_GET_P99_MS:.0f} ms with "
        f"{SEEDED_JOBS:,} jobs in the DB"
    )
    for key, r in results.items():
        t = r["target"]
        rate_ok = (
            t["rate_per_min"] >= TARGET_RATE_PER_MIN
            and t["submissions_per_min"] >= 0.98 * t["rate_per_min"]
        )
        line = (
            f"  {key:14} rate {t['submissions_per_min']:5.0f}/min {_ok(rate_ok)}  "
            f"POST p99 {t['post']['p99']:6.1f} ms {_ok(t['post']['p99'] < TARGET_POST_P99_MS)}"
            f"  GET p99 under load {t['get']['p99']:5.1f} ms "
            f"{_ok(t['get']['p99'] < TARGET_GET_P99_MS)}"
        )
        for s in r.get("status", []):
            p99 = s["get"]["p99"]
            line += f"  GET p99 @{s['readers']} {p99:5.1f} ms {_ok(p99 < TARGET_GET_P99_MS)}"
        print(line)


def compare(before: dict[str, Any], now: dict[str, Any], ref: str) -> None:
    """This run's target-phase figures beside the code at `ref`, run just before."""
    now.setdefault("environment", {})["loadavg_at_end"] = list(os.getloadavg())
    print(f"\nBeside the code at {ref} (same machine, this invocation):")
    rows: list[list[object]] = []
    for key in now["results"]:
        target = f"results.{key}.target"
        figures = [
            ("submissions/min", f"{target}.submissions_per_min"),
            ("POST p50 ms", f"{target}.post.p50"),
            ("POST p99 ms", f"{target}.post.p99"),
            ("GET p99 ms under load", f"{target}.get.p99"),
            *(
                (f"CPU ms/submission {name}", f"{target}.cpu_ms_per_submission.{name}")
                for name in PROCESSES
            ),
        ]
        for label, path in figures:
            old, new = harness.dig(before, path), harness.dig(now, path)
            rows.append([key, label, _num(old), _num(new)])
    rows.append(
        [
            "",
            "load average (1 min) at end",
            _num(harness.dig(before, "environment.loadavg_at_end.0")),
            _num(harness.dig(now, "environment.loadavg_at_end.0")),
        ]
    )
    harness.print_table(["scenario", "figure", ref, "now"], rows)


def _num(value: float) -> str:
    return "-" if value != value else f"{value:.1f}"


def _ok(ok: bool) -> str:
    return "ok  " if ok else "MISS"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model-ms",
        type=lambda s: [int(n) for n in s.split(",") if n],
        default=[0, 2000],
        help="simulated GPU time per job, one stack each; the first runs every phase",
    )
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8, help="closed-loop submitters")
    parser.add_argument("--max-seconds", type=float, default=10.0, help="0: no closed loop")
    parser.add_argument("--rate", type=float, default=TARGET_RATE_PER_MIN, help="per minute")
    parser.add_argument("--duration", type=float, default=45.0, help="open-loop seconds")
    parser.add_argument("--readers", type=int, default=4, help="status readers during load")
    parser.add_argument(
        "--status-readers",
        type=lambda s: [int(n) for n in s.split(",") if n],
        default=[1, 4, 16],
        help="closed-loop status readers, one phase each ('' for none)",
    )
    parser.add_argument("--status-seconds", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds")
    parser.add_argument("--gpus", type=int, default=4, help="simulated RunPod workers")
    parser.add_argument("--quick", action="store_true", help="short phases")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres): "
        "each stack uses a new database on it, dropped after; default a SQLite file",
    )
    parser.add_argument(
        "--before",
        metavar="REF",
        help="first run this script against commit REF's src (a temporary git worktree), same "
        "arguments, and print its figures beside this run's (e.g. --before e7d6118)",
    )
    parser.add_argument("--results-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    before = None
    if args.before:
        raw = list(sys.argv[1:] if argv is None else argv)
        before = harness.run_before(args.before, Path(__file__), harness.before_argv(raw))
    if args.quick:
        args.max_seconds, args.duration, args.status_seconds = 5.0, 15.0, 3.0
    random.seed(1)
    env = harness.environment()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="heirloom-bench-api-") as tmp:
        for model_ms in args.model_ms:
            key = f"model-{model_ms}ms"
            home = Path(tmp) / key
            home.mkdir()
            results[key] = asyncio.run(run_stack(model_ms, home, args))
    report(results)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    full: dict[str, Any] = {"environment": env, "settings": settings, "results": results}
    if before is not None:
        full["before"] = {"ref": args.before, "report": before}
        compare(before, full, args.before)
    path = harness.write_results("api", full, args.results_file)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
