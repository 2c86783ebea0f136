"""The GPU pool at scale, simulated: 1,000 GPUs over 5 endpoints at RunPod's request limits, a
backlog of 10,000 jobs.

Run from the repository root: python bench/pool_sim.py [--gpus 1000] [--endpoints 5]
[--jobs 10000] [--model-s 5] [--limit-scale 1] [--designs prefetch,gpu-queue]
(in a venv without the package installed: PYTHONPATH=src python bench/pool_sim.py).

The endpoints are simulated in a child process (tests/harness/sim_endpoint.py): GPUs are
timers, each job runs --model-s seconds first in, first out per endpoint, and RunPod's
limits per endpoint (/run 1,000, /status 2,000, /cancel 100 per 10 s, times --limit-scale)
answer 429 beyond them. This process is one GPU worker: the real `ModelStep`, GPU pool, clients
and poll schedulers (tests/harness/bare_step.py stands in for the database and storage), the
backlog admitted as the GPU queue's worker admits it (`Settings.gpu_admission` steps at once,
the prefetched ones by expected end through src's admission, worker/gpu_admission.py, asked
by POLLERS pollers at a time as Temporal's core asks; Temporal itself is not simulated).
Designs: `prefetch` (src: --prefetch jobs per endpoint, default 1, each admitted shortly before
the GPU it takes frees, polls paced by the expected end), `prefetch-early` (on request: the
prefetched jobs admitted as soon as a slot frees, the design before it) and `gpu-queue` (the
design before prefetch: admission = the GPUs, polls from 20 ms growing to
runpod_poll_interval_s).

Figures: GPU utilisation from the first model start to the last model end (the endpoints'
busy GPU time), RunPod requests per job, the worker's CPU per job and its event loop's lag,
429s and each route's busiest 10 s against its limit, and the simulator's own CPU. Prints a
table and writes bench/results/pool_sim.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx

# First: it puts the repository root on sys.path, for tests.harness.
import harness

# isort: split
from tests.harness.bare_step import MemoryRuns, bare_step
from tests.harness.serving import free_port

from heirloom.config import EndpointSettings, Settings
from heirloom.domain.errors import HeirloomError
from heirloom.domain.messages import JobRef, ModelRequest
from heirloom.services.runpod.client import RunPodService
from heirloom.services.runpod.model_step import StepAttempt
from heirloom.services.runpod.pool import EndpointPool
from heirloom.worker.gpu_admission import GpuAdmission

DESIGNS = ("prefetch", "prefetch-early", "gpu-queue")
DEFAULT_DESIGNS = ("prefetch", "gpu-queue")
# RunPod's limits per endpoint, per 10 s.
RUNPOD_LIMITS = {"run": 1000.0, "status": 2000.0, "cancel": 100.0}
API_KEY = "sim-key"
ATTEMPTS = 4
# Temporal's core asks the slot supplier for one slot per poller at a time (its default).
POLLERS = 5


def settings_for(design: str, url: str, args: argparse.Namespace) -> Settings:
    limits = {route: per_10s * args.limit_scale for route, per_10s in RUNPOD_LIMITS.items()}
    per_endpoint = args.gpus // args.endpoints
    return Settings(
        runpod_api_key=API_KEY,
        runpod_base_url=f"{url}/v2",
        runpod_endpoints=[
            EndpointSettings(
                id=f"sim-{i}",
                base_url=f"{url}/v2",
                gpu_slots=per_endpoint,
                run_per_10s=limits["run"],
                status_per_10s=limits["status"],
                cancel_per_10s=limits["cancel"],
                price_per_s_usd=0.0010 + 0.0001 * i,
                prefetch=args.prefetch if design.startswith("prefetch") else 0,
            )
            for i in range(args.endpoints)
        ],
        # The process's own cap per endpoint: what RunPod's routes allow together.
        runpod_requests_per_s=sum(limits.values()) / 10,
        runpod_poll_interval_s=0.5,
        runpod_request_timeout_s=30.0,
        runpod_poll_by_expected_end=design.startswith("prefetch"),
        gpu_prefetch_by_expected_end=design == "prefetch",
    )


class LoopLag:
    """How late a 50 ms ticker wakes: the event loop's lag, the first thing a busy worker loses."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            at = loop.time()
            await asyncio.sleep(0.05)
            self.lags.append(loop.time() - at - 0.05)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


async def run_design(design: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    settings = settings_for(design, url, args)
    services = {
        endpoint.id: RunPodService.from_settings(settings, endpoint)
        for endpoint in settings.gpu_endpoints
    }
    pool = EndpointPool.from_settings(settings, services.__getitem__)
    runs = MemoryRuns()
    slots = sum(endpoint.gpu_slots for endpoint in settings.gpu_endpoints)
    admission = GpuAdmission(
        lambda: pool,
        slots=slots,
        limit=settings.gpu_admission,
        lead_s=settings.gpu_prefetch_lead_s,
        timed=settings.gpu_prefetch_by_expected_end and settings.runpod_poll_by_expected_end,
    )
    pollers = asyncio.Semaphore(POLLERS)
    failed: list[str] = []
    retried: list[str] = []

    async def job(index: int) -> None:
        request = ModelRequest(
            job=JobRef(job_id=f"j{index}-{uuid.uuid4().hex[:8]}", user_id="u", operations="r"),
            input_key="in",
            tier="free",
        )
        # Temporal's attempts: a retryable error runs the step again, up to ATTEMPTS.
        for number in range(1, ATTEMPTS + 1):
            attempt = StepAttempt(
                number=number,
                heartbeat=lambda *_: None,
                heartbeat_every_s=1.0,
                cancel_requested=lambda: False,
            )
            async with pollers:
                await admission.reserve_slot(None)  # type: ignore[arg-type]
            try:
                await bare_step(settings, pool, runs).run(request, attempt)
                return
            except HeirloomError as err:
                if not err.retryable or number == ATTEMPTS:
                    failed.append(f"{type(err).__name__}: {err}")
                    return
                retried.append(type(err).__name__)
            finally:
                admission.release_slot(None)  # type: ignore[arg-type]

    lag = LoopLag()
    cpu = harness.CpuMeter()
    before = cpu.sample()
    started = time.monotonic()
    lag.start()
    await asyncio.gather(*(job(i) for i in range(args.jobs)))
    lag.stop()
    elapsed = time.monotonic() - started
    worker_cpu = cpu.since(cpu.sample(), before)["bench"]
    for service in services.values():
        await service.close_async()
    async with httpx.AsyncClient(base_url=url, timeout=30) as admin:
        stats: dict[str, dict[str, Any]] = (await admin.get("/_admin/stats")).json()
    return figures(design, args, stats, elapsed, worker_cpu, lag.lags, runs, failed, retried)


def figures(
    design: str,
    args: argparse.Namespace,
    stats: dict[str, dict[str, Any]],
    elapsed: float,
    worker_cpu: float,
    lags: list[float],
    runs: MemoryRuns,
    failed: list[str],
    retried: list[str],
) -> dict[str, Any]:
    endpoints = list(stats.values())
    starts = [e["first_start"] for e in endpoints if e["first_start"] is not None]
    ends = [e["last_end"] for e in endpoints if e["last_end"] is not None]
    window = max(ends) - min(starts) if starts and ends else float("nan")
    gpus = sum(e["gpus"] for e in endpoints)
    busy = sum(e["busy_s"] for e in endpoints)
    requests = {
        route: sum(e["requests"].get(route, 0) for e in endpoints)
        for route in ("run", "status", "cancel")
    }
    completed = sum(e["completed"] for e in endpoints)
    return {
        "design": design,
        "jobs": args.jobs,
        "completed": completed,
        "failed": len(failed),
        "retried_attempts": dict(Counter(retried)),
        "failures": sorted(set(failed))[:5],
        "elapsed_s": elapsed,
        "ideal_s": args.jobs * args.model_s / gpus,
        "gpu_utilisation": busy / (gpus * window) if window else float("nan"),
        "requests": requests,
        "requests_per_job": sum(requests.values()) / max(completed, 1),
        "rate_limited": sum(sum(e["rate_limited"].values()) for e in endpoints),
        "busiest_10s_share_of_limit": {
            route: max(
                e["peak_per_10s"].get(route, 0) / e["limits_per_10s"][route] for e in endpoints
            )
            for route in ("run", "status", "cancel")
        },
        "worker_cpu_s": worker_cpu,
        "worker_cpu_ms_per_job": worker_cpu / max(completed, 1) * 1000,
        "worker_cores_busy": worker_cpu / elapsed,
        "loop_lag_ms": harness.summary_ms(lags),
        "attempts": runs.by_status,
    }


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace, sim_cpu: float) -> None:
    print(
        f"\nGPU pool at scale: {args.gpus} simulated GPUs over {args.endpoints} endpoints, "
        f"{args.jobs} jobs of {args.model_s} s backlogged at once, RunPod's limits x "
        f"{args.limit_scale}; one worker process; prefetch {args.prefetch} per endpoint"
    )
    harness.print_table(
        [
            "design",
            "done/failed/retried",
            "elapsed s (ideal)",
            "GPU util",
            "req/job",
            "run/status/cancel",
            "429s",
            "busiest 10s/limit run,status",
            "worker CPU ms/job",
            "worker cores",
            "loop lag ms p50/p99/max",
        ],
        [
            [
                name,
                f"{r['completed']}/{r['failed']}/{sum(r['retried_attempts'].values())}",
                f"{r['elapsed_s']:.1f} ({r['ideal_s']:.1f})",
                f"{r['gpu_utilisation'] * 100:.1f}%",
                f"{r['requests_per_job']:.2f}",
                "/".join(str(r["requests"][k]) for k in ("run", "status", "cancel")),
                r["rate_limited"],
                f"{r['busiest_10s_share_of_limit']['run']:.2f},"
                f"{r['busiest_10s_share_of_limit']['status']:.2f}",
                f"{r['worker_cpu_ms_per_job']:.2f}",
                f"{r['worker_cores_busy']:.2f}",
                f"{r['loop_lag_ms']['p50']:.0f}/{r['loop_lag_ms']['p99']:.0f}/"
                f"{r['loop_lag_ms']['max']:.0f}",
            ]
            for name, r in results.items()
        ],
    )
    print(f"\nsimulator CPU: {sim_cpu:.1f} s over all designs")
    for name, r in results.items():
        if r["failures"]:
            print(f"  {name} failures: {r['failures']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--model-s", type=float, default=5.0)
    parser.add_argument("--limit-scale", type=float, default=1.0, help="x RunPod's limits")
    parser.add_argument(
        "--prefetch", type=int, default=1, help="jobs prefetched per endpoint (prefetch design)"
    )
    parser.add_argument(
        "--designs",
        type=lambda s: [d for d in s.split(",") if d],
        default=list(DEFAULT_DESIGNS),
        help=f"comma-separated, of {', '.join(DESIGNS)}",
    )
    args = parser.parse_args(argv)
    env = harness.environment()
    results: dict[str, dict[str, Any]] = {}
    sim_cpu = 0.0
    for design in args.designs:
        port = free_port()
        config = {
            "endpoints": {f"sim-{i}": args.gpus // args.endpoints for i in range(args.endpoints)},
            "model_s": args.model_s,
            "limits": {route: n * args.limit_scale for route, n in RUNPOD_LIMITS.items()},
        }
        sim = subprocess.Popen(
            [sys.executable, "-m", "tests.harness.sim_endpoint", json.dumps(config), str(port)],
            cwd=harness.ROOT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/_admin/stats", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("the simulated endpoints did not start")
                time.sleep(0.1)
            meter = harness.CpuMeter({"sim": sim.pid})
            before = meter.sample()
            print(f"... {design}: {args.jobs} jobs", flush=True)
            results[design] = asyncio.run(run_design(design, url, args))
            sim_cpu += meter.since(meter.sample(), before)["sim"]
        finally:
            sim.terminate()
            sim.wait(timeout=10)
    report(results, args, sim_cpu)
    path = harness.write_results(
        "pool_sim",
        {"environment": env, "settings": vars(args), "results": results, "sim_cpu_s": sim_cpu},
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
