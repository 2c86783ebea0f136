"""GPU queue fairness benchmark: a free-tier flood, paid jobs and retries on a small GPU pool.

Run from the repository root: python bench/fairness.py [--gpus 4] [--model-ms 1000]
(in a venv without the package installed: PYTHONPATH=src python bench/fairness.py).

Designs on the same load, one fresh stack each, in one run (--designs picks them):
- `prefetch`: src as shipped. Model steps wait in the GPU task queue (priority: retries, then
  paid, then free; fair across users by fairness key); the worker admits its GPU slots plus one
  job per endpoint (HEIRLOOM_GPU_PREFETCH_PER_ENDPOINT=1), which waits at RunPod so a GPU
  starts it the moment a run ends, taking that job from the queue only shortly before the run
  whose GPU it takes should end, so it is the highest-priority job waiting then
  (HEIRLOOM_GPU_PREFETCH_BY_EXPECTED_END=true), and polls each RunPod job when it should end,
  a margin learnt from the runs' lateness after it (HEIRLOOM_RUNPOD_POLL_BY_EXPECTED_END=true).
- `prefetch-early`: the design before it (HEIRLOOM_GPU_PREFETCH_BY_EXPECTED_END=false): the
  prefetched job is taken from the queue as soon as a slot frees, so a paid job arriving just
  after waits behind it for one more run end.
- `gpu-queue`: the design before those (prefetch 0, polls from 20 ms growing to
  runpod_poll_interval_s): the GPU queue's slots equal the GPUs, so a GPU waits for the poll
  that notices its run ended and for the next submission.
- `tier-slots`: the design before the GPU queue, behind HEIRLOOM_GPU_QUEUE_ENABLED=false: the
  model step runs on the job's tier queue and the worker submits to RunPod as soon as a tier
  slot is free (free 8, paid 32: src's defaults), so RunPod's own first-in first-out queue
  decides. Not run by default.
All use src's RunPod client and poll scheduler.

Each stack runs as production does, one process each: the dev server (TemporalDevServer),
`heirloom runpod-endpoint` (--gpus simulated GPUs, --model-ms of GPU time per job),
`heirloom worker` (every tier, --gpu-slots = --gpus) and `heirloom api`. Before the load,
jobs that fail (to retry during it), then --warm-up jobs that complete (default: one per GPU),
so the worker has learnt the model time as a running worker has; their RunPod requests are
reported apart (what a fresh worker's first jobs cost) and the load's counted from zero. The
load, over --seconds: free users at --free-rate jobs/s in all (one heavy user sends half of
them, the others share the rest), paid users at --paid-share of that (one at a random moment
of each interval, seeded), and retries of failed jobs every --retry-every seconds. Queue wait
is from the POST to the start of the job's model run on a (simulated) GPU, read from the
endpoint's run log; GPU utilisation with a backlog counts busy GPU time while more jobs wait
than there are GPUs; end-to-end GPU utilisation counts it from the first model start to the
last model end (ramp and tail included); RunPod requests per job are every /run, /status and
/cancel over the load's jobs, counted at the endpoint; Jain's index compares each free user's
GPU starts during the flood with its max-min fair share. Prints the tables and writes
bench/results/fairness.json.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select

# First: it puts the repository root on sys.path, for tests.harness.
import harness

# isort: split
from tests.harness.processes import process_stack

from heirloom.db.models import Job
from heirloom.domain.jobs import JobStatus
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services

DESIGNS = ("prefetch", "prefetch-early", "gpu-queue", "tier-slots")
DEFAULT_DESIGNS = ("prefetch", "prefetch-early")
# What each design changes of src's defaults.
DESIGN_ENV: dict[str, dict[str, str]] = {
    "prefetch": {},
    "prefetch-early": {"HEIRLOOM_GPU_PREFETCH_BY_EXPECTED_END": "false"},
    "gpu-queue": {
        "HEIRLOOM_GPU_PREFETCH_PER_ENDPOINT": "0",
        "HEIRLOOM_RUNPOD_POLL_BY_EXPECTED_END": "false",
    },
    "tier-slots": {
        "HEIRLOOM_GPU_QUEUE_ENABLED": "false",
        "HEIRLOOM_GPU_PREFETCH_PER_ENDPOINT": "0",
        "HEIRLOOM_RUNPOD_POLL_BY_EXPECTED_END": "false",
    },
}
TARGET_IDLE_MS = 50.0
TARGET_UTILISATION = 0.95
TARGET_JAIN = 0.9
FREE_USERS = 4
PAID_USERS = 3
RETRIES = 6
DRAIN_TIMEOUT_S = 90.0


@dataclass
class Submitted:
    job_id: str
    kind: str  # free, paid or retry
    user: str
    at: float  # wall clock, when the POST was sent


class Load:
    """The users and what they submitted."""

    def __init__(self, http: httpx.AsyncClient, photo: bytes) -> None:
        self.http = http
        self.photo = photo
        self.jobs: list[Submitted] = []
        self.refused = 0

    async def post(self, kind: str, user: str, key: str) -> None:
        at = time.time()
        try:
            response = await self.http.post(
                "/v1/jobs",
                headers={"Authorization": f"Bearer {key}"},
                files={"file": ("photo.jpg", self.photo, "image/jpeg")},
                data={"operations": "restore"},
            )
        except httpx.HTTPError:
            self.refused += 1
            return
        if response.status_code != 202:
            self.refused += 1
            return
        self.jobs.append(Submitted(str(response.json()["id"]), kind, user, at))

    async def retry(self, user: str, key: str, job_id: str) -> None:
        at = time.time()
        response = await self.http.post(
            f"/v1/jobs/{job_id}/retry", headers={"Authorization": f"Bearer {key}"}
        )
        if response.status_code != 202:
            self.refused += 1
            return
        self.jobs.append(Submitted(str(response.json()["id"]), "retry", user, at))


def schedule(args: argparse.Namespace) -> list[tuple[float, str, int]]:
    """(seconds after the start, kind, user index) of every submission, the same per design."""
    rng = random.Random(7)
    events: list[tuple[float, str, int]] = []
    free_interval = 1 / args.free_rate
    t = 0.0
    while t < args.seconds:
        # One heavy user sends half the free jobs; the others share the rest.
        user = 0 if rng.random() < 0.5 else rng.randrange(1, FREE_USERS)
        events.append((t, "free", user))
        t += free_interval
    # Paid jobs: one at a random moment of each interval (seeded: the same per design). Evenly
    # spaced, each came at the same instant as a retry (which goes first) and at the same
    # phase of the GPUs' cycle: one situation measured six times instead of a paid job's wait.
    paid_interval = free_interval / args.paid_share
    t = 0.0
    while t + paid_interval <= args.seconds + 1e-9:
        events.append((t + rng.uniform(0, paid_interval), "paid", rng.randrange(PAID_USERS)))
        t += paid_interval
    t = args.retry_every / 2
    retry = 0
    while t < args.seconds and retry < RETRIES:
        events.append((t, "retry", retry))
        t += args.retry_every
        retry += 1
    return sorted(events)


async def set_faults(runpod_url: str, **faults: Any) -> None:
    async with httpx.AsyncClient() as admin:
        current = (await admin.get(f"{runpod_url}/_admin/faults")).json()
        answer = await admin.put(f"{runpod_url}/_admin/faults", json={**current, **faults})
        answer.raise_for_status()


def statuses(services: Services, job_ids: Sequence[str]) -> dict[str, str]:
    with services.db.session() as session:
        rows = session.exec(select(Job.id, Job.status).where(col(Job.id).in_(list(job_ids))))
        return {job_id: status for job_id, status in rows}


async def wait_final(services: Services, job_ids: Sequence[str], timeout_s: float) -> bool:
    final = {s.value for s in JobStatus if s.is_final}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = statuses(services, job_ids)
        if len(found) == len(job_ids) and all(s in final for s in found.values()):
            return True
        await asyncio.sleep(0.25)
    return False


async def run_design(design: str, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One stack with one design: failed jobs to retry, the load, the drain, the figures."""
    uncapped = {"daily_job_limit": None, "max_active_jobs": None}
    env = {
        **DESIGN_ENV[design],
        "HEIRLOOM_TIER_RULES": json.dumps({"free": uncapped, "paid": uncapped}),
        # Nothing periodic competes for the two cores during a minute's run.
        "HEIRLOOM_SCHEDULES_ENABLED": "false",
    }
    with process_stack(home, gpus=args.gpus, env=env) as stack:
        services, api_url, runpod_url = stack.services, stack.api_url, stack.runpod_url
        free = [
            services.accounts.create(email=f"free-{i}@bench.local", tier=Tier.FREE, credits=10**6)
            for i in range(FREE_USERS)
        ]
        paid = [
            services.accounts.create(email=f"paid-{i}@bench.local", tier=Tier.PAID, credits=10**6)
            for i in range(PAID_USERS)
        ]
        cpu = harness.CpuMeter(stack.pids)
        async with httpx.AsyncClient(base_url=api_url, timeout=30.0) as http:
            load = Load(http, harness.photo_jpeg(160, 120))
            print(f"... {design}: jobs that fail, to retry during the load", flush=True)
            await set_faults(runpod_url, failed=1.0, execution_ms=0)
            for i in range(RETRIES):
                await load.post("setup", f"retrier-{i}", paid[i % PAID_USERS].api_key)
            failed_ids = [s.job_id for s in load.jobs]
            if not await wait_final(services, failed_ids, DRAIN_TIMEOUT_S):
                raise RuntimeError("the jobs meant to fail did not end")
            load.jobs.clear()
            await set_faults(runpod_url, failed=0.0, execution_ms=args.model_ms)
            async with httpx.AsyncClient() as admin:
                (await admin.post(f"{runpod_url}/_admin/reset-stats")).raise_for_status()
            if args.warm_up:
                print(f"... {design}: {args.warm_up} jobs to warm up", flush=True)
                await asyncio.gather(
                    *(
                        load.post("setup", f"warm-{i}", free[i % FREE_USERS].api_key)
                        for i in range(args.warm_up)
                    )
                )
                if not await wait_final(services, [s.job_id for s in load.jobs], DRAIN_TIMEOUT_S):
                    raise RuntimeError("the warm-up jobs did not end")
                warm_jobs = len(load.jobs)
                load.jobs.clear()
            else:
                warm_jobs = 0
            async with httpx.AsyncClient() as admin:
                warm_stats = (await admin.get(f"{runpod_url}/_admin/stats")).json()
                (await admin.post(f"{runpod_url}/_admin/reset-stats")).raise_for_status()

            print(f"... {design}: {args.seconds:.0f} s of load", flush=True)
            cpu_before = cpu.sample()
            started = time.time()
            tasks: list[asyncio.Task[None]] = []
            for offset, kind, index in schedule(args):
                delay = started + offset - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if kind == "free":
                    call = load.post(kind, f"free-{index}", free[index].api_key)
                elif kind == "paid":
                    call = load.post(kind, f"paid-{index}", paid[index].api_key)
                else:
                    owner = paid[index % PAID_USERS]
                    call = load.retry(f"retrier-{index}", owner.api_key, failed_ids[index])
                tasks.append(asyncio.create_task(call))
            await asyncio.gather(*tasks)
            load_ended = time.time()
            print(f"... {design}: drain ({len(load.jobs)} jobs)", flush=True)
            drained = await wait_final(services, [s.job_id for s in load.jobs], DRAIN_TIMEOUT_S)
            ended = time.time()
            cpu_spent = cpu.since(cpu.sample(), cpu_before)
            async with httpx.AsyncClient() as admin:
                runs = (await admin.get(f"{runpod_url}/_admin/runs")).json()
                stats = (await admin.get(f"{runpod_url}/_admin/stats")).json()
        final = statuses(services, [s.job_id for s in load.jobs])
    result = figures(
        design,
        args,
        load,
        runs,
        stats,
        final,
        window=(started, load_ended, ended),
        cpu_spent=cpu_spent,
        drained=drained,
    )
    warm_requests = sum(warm_stats["requests"].values())
    result["warm_up"] = {
        "jobs": warm_jobs,
        "runpod_requests": warm_stats["requests"],
        "runpod_requests_per_job": warm_requests / warm_jobs if warm_jobs else float("nan"),
    }
    return result


def figures(
    design: str,
    args: argparse.Namespace,
    load: Load,
    runs: list[dict[str, Any]],
    stats: dict[str, Any],
    final: dict[str, str],
    *,
    window: tuple[float, float, float],
    cpu_spent: dict[str, float],
    drained: bool,
) -> dict[str, Any]:
    started, load_ended, ended = window
    model_s = args.model_ms / 1000
    first_start: dict[str, float] = {}
    for run in runs:
        ref, at = run["job_ref"], run["started_at"]
        if ref is not None and at is not None and at >= started:
            first_start[ref] = min(at, first_start.get(ref, at))
    waits: dict[str, list[float]] = {"free": [], "paid": [], "retry": []}
    for job in load.jobs:
        if job.job_id in first_start:
            waits[job.kind].append(first_start[job.job_id] - job.at)

    # Time grid: jobs waiting (submitted, model not started), models running, RunPod jobs open.
    submits = sorted(job.at for job in load.jobs)
    starts = sorted(first_start.values())
    run_starts = sorted(
        r["started_at"] for r in runs if r["started_at"] and r["started_at"] >= started
    )
    run_ends = sorted(
        r["finished_at"] for r in runs if r["finished_at"] and r["finished_at"] >= started
    )
    at_runpod = sorted(r["submitted_at"] for r in runs if r["submitted_at"] >= started)
    step = 0.01
    busy = backlog_s = 0.0
    most_open = 0
    t = started
    while t < ended:
        waiting = bisect.bisect_right(submits, t) - bisect.bisect_right(starts, t)
        running = bisect.bisect_right(run_starts, t) - bisect.bisect_right(run_ends, t)
        most_open = max(
            most_open, bisect.bisect_right(at_runpod, t) - bisect.bisect_right(run_ends, t)
        )
        if waiting > args.gpus:
            backlog_s += step
            busy += min(running, args.gpus) * step
        t += step
    utilisation = busy / (backlog_s * args.gpus) if backlog_s else float("nan")
    # End to end: from the first model start to the last model end, ramp and tail included.
    spans = [
        (r["started_at"], r["finished_at"])
        for r in runs
        if r["started_at"] and r["finished_at"] and r["started_at"] >= started
    ]
    e2e_window = max(e for _, e in spans) - min(s for s, _ in spans) if spans else 0.0
    e2e_busy = sum(e - s for s, e in spans)
    e2e_utilisation = e2e_busy / (e2e_window * args.gpus) if e2e_window else float("nan")
    e2e_idle_ms_per_run = (
        (e2e_window * args.gpus - e2e_busy) / len(spans) * 1000 if spans else float("nan")
    )
    # GPU time left idle per model run while the backlog lasted: the hand-off from one job's
    # end to the next one's start, which does not grow with the model's time.
    runs_in_backlog = backlog_s * utilisation * args.gpus / model_s if backlog_s else 0.0
    idle_ms_per_run = (
        (backlog_s * args.gpus - busy) / runs_in_backlog * 1000 if runs_in_backlog else float("nan")
    )

    # Jain's index over free users: GPU starts during the flood against max-min fair shares.
    demand: dict[str, int] = {}
    served: dict[str, int] = {}
    for job in load.jobs:
        if job.kind != "free":
            continue
        demand[job.user] = demand.get(job.user, 0) + 1
        start = first_start.get(job.job_id)
        if start is not None and start <= load_ended:
            served[job.user] = served.get(job.user, 0) + 1
    shares = max_min_shares(demand, sum(served.values()))
    ratios = [served.get(user, 0) / share for user, share in shares.items() if share > 0]
    jain = sum(ratios) ** 2 / (len(ratios) * sum(r * r for r in ratios)) if ratios else float("nan")

    elapsed = ended - started
    requests = stats["requests"]
    total_requests = sum(requests.values())
    mean_on_gpu = (
        sum(min(e, ended) - s for s, e in zip(run_starts, run_ends, strict=False)) / elapsed
    )
    # How late the worker saw a run end (its next poll), and from then to the start of the
    # next run at RunPod while the backlog lasted (the GPU queue's hand-off).
    noticed = [
        r["seen_ended_at"] - r["finished_at"]
        for r in runs
        if r["seen_ended_at"] and r["finished_at"] and r["finished_at"] >= started
    ]
    seen_sorted = sorted(r["seen_ended_at"] for r in runs if r["seen_ended_at"])
    hand_offs = []
    for start in run_starts:
        waiting = bisect.bisect_right(submits, start) - bisect.bisect_right(starts, start)
        i = bisect.bisect_left(seen_sorted, start)
        if waiting >= args.gpus and i:
            hand_offs.append(start - seen_sorted[i - 1])
    return {
        "design": design,
        "end_noticed_after_ms": harness.summary_ms(noticed),
        "next_start_after_noticed_ms": harness.summary_ms(hand_offs),
        "jobs": {
            kind: sum(1 for job in load.jobs if job.kind == kind)
            for kind in ("free", "paid", "retry")
        },
        "refused": load.refused,
        "drained": drained,
        "final_statuses": _count(final.values()),
        "elapsed_s": elapsed,
        "load_s": load_ended - started,
        "backlog_s": backlog_s,
        "gpu_utilisation_with_backlog": utilisation,
        "gpu_idle_ms_per_run_with_backlog": idle_ms_per_run,
        "gpu_utilisation_end_to_end": e2e_utilisation,
        "gpu_idle_ms_per_run_end_to_end": e2e_idle_ms_per_run,
        "model_runs": len(spans),
        "wait_ms": {kind: harness.summary_ms(values) for kind, values in waits.items()},
        "wait_in_model_times_p95": {
            kind: harness.percentile(values, 95) / model_s for kind, values in waits.items()
        },
        "free_users": {
            user: {
                "submitted": demand[user],
                "started_during_flood": served.get(user, 0),
                "fair_share": shares[user],
                "wait_ms_p50": harness.percentile(
                    [
                        first_start[j.job_id] - j.at
                        for j in load.jobs
                        if j.user == user and j.job_id in first_start
                    ],
                    50,
                )
                * 1000,
            }
            for user in sorted(demand)
        },
        "jain_free_users": jain,
        "runpod_requests": requests,
        # Each job's end is seen by one /status; the others found it running or queued.
        "status_polls": {
            "saw_end": len(load.jobs),
            "running": stats["in_progress_polls"],
            "queued": requests["status"] - len(load.jobs) - stats["in_progress_polls"],
        },
        "runpod_requests_per_s": total_requests / elapsed,
        "runpod_requests_per_job": total_requests / len(load.jobs) if load.jobs else float("nan"),
        "runpod_peak_requests_per_s": stats["peak_requests_per_s"],
        "runpod_rate_limited": stats["rate_limited"],
        "runpod_jobs_open_max": most_open,
        "mean_jobs_on_gpus": mean_on_gpu,
        "runpod_requests_per_s_per_job_on_gpu": (total_requests / elapsed) / mean_on_gpu
        if mean_on_gpu
        else float("nan"),
        "model_executions": stats["model_executions"],
        "cpu_s_per_s": {name: s / elapsed for name, s in cpu_spent.items()},
    }


def max_min_shares(demand: dict[str, int], capacity: float) -> dict[str, float]:
    """Water-filling: each user gets min(demand, an equal share of what is left)."""
    shares: dict[str, float] = {}
    left = capacity
    pending = sorted(demand, key=demand.__getitem__)
    while pending:
        equal = left / len(pending)
        user = pending[0]
        if demand[user] <= equal:
            shares[user] = demand[user]
            left -= demand[user]
            pending.pop(0)
        else:
            for user in pending:
                shares[user] = equal
            break
    return shares


def _count(values: Any) -> dict[str, int]:
    counted: dict[str, int] = {}
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    return counted


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nGPU queue fairness: {args.gpus} GPUs, {args.model_ms} ms per model run, "
        f"{args.seconds:.0f} s of load (free {args.free_rate}/s, paid {args.paid_share:g} of "
        f"it, {RETRIES} retries); queue wait = POST to the model's start on a GPU, ms"
    )
    rows = []
    for name, r in results.items():
        w = r["wait_ms"]
        rows.append(
            [
                name,
                f"{r['jobs']['free']}/{r['jobs']['paid']}/{r['jobs']['retry']}",
                f"{r['gpu_utilisation_with_backlog'] * 100:.1f}%",
                f"{r['gpu_idle_ms_per_run_with_backlog']:.0f}",
                f"{w['free']['p50']:.0f}/{w['free']['p95']:.0f}",
                f"{w['paid']['p50']:.0f}/{w['paid']['p95']:.0f}",
                f"{w['retry']['p50']:.0f}/{w['retry']['p95']:.0f}",
                f"{r['wait_in_model_times_p95']['paid']:.2f}",
                f"{r['jain_free_users']:.3f}",
                f"{r['runpod_requests_per_s']:.1f}",
                r["runpod_jobs_open_max"],
                f"{r['cpu_s_per_s']['worker']:.2f}",
            ]
        )
    harness.print_table(
        [
            "design",
            "free/paid/retry",
            "GPU util",
            "idle ms/run",
            "free p50/p95",
            "paid p50/p95",
            "retry p50/p95",
            "paid p95 / T",
            "Jain",
            "RunPod req/s",
            "RunPod open max",
            "worker CPU s/s",
        ],
        rows,
    )
    print(
        "\nFree users (user 0 is the heavy one): submitted, GPU starts during the flood, "
        "max-min fair share, wait p50 ms"
    )
    user_rows = []
    for name, r in results.items():
        for user, u in r["free_users"].items():
            user_rows.append(
                [
                    name,
                    user,
                    u["submitted"],
                    u["started_during_flood"],
                    u["fair_share"],
                    u["wait_ms_p50"],
                ]
            )
    harness.print_table(
        ["design", "user", "submitted", "started", "fair share", "wait p50"], user_rows
    )
    print(
        "\nWhere idle GPU time goes with a backlog, ms (p50/p95): from a run's end to the "
        "worker's poll that saw it, and from there to the next run's start at RunPod"
    )
    harness.print_table(
        ["design", "end noticed after", "next start after"],
        [
            [
                name,
                f"{r['end_noticed_after_ms']['p50']:.0f}/{r['end_noticed_after_ms']['p95']:.0f}",
                f"{r['next_start_after_noticed_ms']['p50']:.0f}/"
                f"{r['next_start_after_noticed_ms']['p95']:.0f}",
            ]
            for name, r in results.items()
        ],
    )
    print("\nRunPod traffic and CPU (cores busy per process):")
    harness.print_table(
        [
            "design",
            "run/status/cancel",
            "status: end/running/queued",
            "req/s",
            "peak/s",
            "429s",
            "jobs on GPUs",
            "req/s per GPU job",
            "api",
            "worker",
            "temporal",
            "runpod",
        ],
        [
            [
                name,
                "/".join(str(r["runpod_requests"][k]) for k in ("run", "status", "cancel")),
                "/".join(str(r["status_polls"][k]) for k in ("saw_end", "running", "queued")),
                r["runpod_requests_per_s"],
                r["runpod_peak_requests_per_s"],
                r["runpod_rate_limited"],
                r["mean_jobs_on_gpus"],
                r["runpod_requests_per_s_per_job_on_gpu"],
                *(r["cpu_s_per_s"][p] for p in ("api", "worker", "temporal", "runpod")),
            ]
            for name, r in results.items()
        ],
    )
    print(
        "\nKeeping GPUs busy (end to end: first model start to last model end, ramp and tail "
        "included; idle ms per run: with a backlog / end to end):"
    )
    harness.print_table(
        [
            "design",
            "model runs",
            "GPU util e2e",
            "GPU util backlog",
            "idle ms/run",
            "paid p95 / T",
            "RunPod req/job",
            "target req/job",
            "warm-up req/job",
        ],
        [
            [
                name,
                r["model_runs"],
                f"{r['gpu_utilisation_end_to_end'] * 100:.1f}%",
                f"{r['gpu_utilisation_with_backlog'] * 100:.1f}%",
                f"{r['gpu_idle_ms_per_run_with_backlog']:.0f} / "
                f"{r['gpu_idle_ms_per_run_end_to_end']:.0f}",
                f"{r['wait_in_model_times_p95']['paid']:.2f}",
                f"{r['runpod_requests_per_job']:.2f}",
                f"{1 + args.model_ms / 2000:.2f}",
                f"{r['warm_up']['runpod_requests_per_job']:.2f} ({r['warm_up']['jobs']} jobs)",
            ]
            for name, r in results.items()
        ],
    )
    pairs = (("prefetch", "prefetch-early"), ("prefetch", "gpu-queue"), ("gpu-queue", "tier-slots"))
    for first, second in pairs:
        if first not in results or second not in results:
            continue
        new, old = results[first], results[second]
        print(f"\nRatios {first} / {second}:")
        for label, a, b in (
            ("paid wait p95", new["wait_ms"]["paid"]["p95"], old["wait_ms"]["paid"]["p95"]),
            ("retry wait p95", new["wait_ms"]["retry"]["p95"], old["wait_ms"]["retry"]["p95"]),
            ("free wait p95", new["wait_ms"]["free"]["p95"], old["wait_ms"]["free"]["p95"]),
            ("RunPod requests/s", new["runpod_requests_per_s"], old["runpod_requests_per_s"]),
            ("RunPod req/job", new["runpod_requests_per_job"], old["runpod_requests_per_job"]),
            ("worker CPU", new["cpu_s_per_s"]["worker"], old["cpu_s_per_s"]["worker"]),
        ):
            print(f"  {label:18} {a / b:.2f}" if b else f"  {label:18} -")
    most_requests = 1 + args.model_ms / 2000
    print(
        f"\ntargets: GPU util end to end >= {TARGET_UTILISATION:.0%}; idle per run with a "
        f"backlog <= {TARGET_IDLE_MS:.0f} ms; paid wait p95 <= one model time; Jain >= "
        f"{TARGET_JAIN}; RunPod requests per job <= {most_requests:.2f}; RunPod jobs open <= "
        "GPUs + prefetch"
    )
    for name, r in results.items():
        prefetch = 1 if name.startswith("prefetch") else 0
        print(
            f"  {name:10} util {_ok(r['gpu_utilisation_end_to_end'] >= TARGET_UTILISATION)}"
            f"  idle {_ok(r['gpu_idle_ms_per_run_with_backlog'] <= TARGET_IDLE_MS)}"
            f"  paid p95 {_ok(r['wait_in_model_times_p95']['paid'] <= 1.0)}"
            f"  Jain {_ok(r['jain_free_users'] >= TARGET_JAIN)}"
            f"  req/job {_ok(r['runpod_requests_per_job'] <= most_requests)}"
            f"  open {_ok(r['runpod_jobs_open_max'] <= args.gpus + prefetch)}"
            f"  all ended {_ok(r['drained'])}"
        )


def _ok(ok: bool) -> str:
    return "ok  " if ok else "MISS"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=4, help="simulated RunPod workers")
    parser.add_argument("--model-ms", type=int, default=2000, help="GPU time per model run")
    parser.add_argument("--seconds", type=float, default=24.0, help="of load")
    parser.add_argument("--free-rate", type=float, default=2.5, help="free jobs/s in all")
    parser.add_argument(
        "--paid-share",
        type=float,
        default=0.1,
        help="paid jobs per free job (one at a seeded random moment of each interval)",
    )
    parser.add_argument("--retry-every", type=float, default=4.0, help="seconds")
    parser.add_argument(
        "--warm-up",
        type=int,
        default=None,
        help="jobs that complete before the load (default: one per GPU; 0: a cold worker)",
    )
    parser.add_argument(
        "--designs",
        type=lambda s: [d for d in s.split(",") if d],
        default=list(DEFAULT_DESIGNS),
        help=f"comma-separated, of {', '.join(DESIGNS)}",
    )
    args = parser.parse_args(argv)
    if args.warm_up is None:
        args.warm_up = args.gpus
    env = harness.environment()
    t0 = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="heirloom-bench-fairness-") as tmp:
        for design in args.designs:
            home = Path(tmp) / design
            home.mkdir()
            results[design] = asyncio.run(run_design(design, home, args))
    report(results, args)
    path = harness.write_results(
        "fairness",
        {
            "environment": env,
            "settings": vars(args),
            "results": results,
            "total_s": time.monotonic() - t0,
        },
    )
    print(f"\n{time.monotonic() - t0:.0f} s in all; wrote {path}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
