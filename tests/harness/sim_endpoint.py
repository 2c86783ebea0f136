"""Simulated RunPod endpoints for load at scale (bench/pool_sim.py): many endpoints in one
process, each with its GPUs as timers, not handler runs.

It speaks the part of RunPod's serverless API the worker uses (`/v2/{endpoint}/run`,
`/status/{id}`, `/cancel/{id}`, `/health`), runs each endpoint's jobs first in, first out on
its GPUs for a fixed model time, reports denoising steps while a job runs as the handler does
(domain/model_progress.py), and enforces RunPod's request limits per endpoint and route over
sliding 10 s windows (429 with Retry-After). `/_admin/stats` counts requests, 429s, the most
requests of a route in any 10 s, and busy GPU time. Run it as
`python -m tests.harness.sim_endpoint CONFIG_JSON PORT`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

STEPS = 20
WINDOW_S = 10.0


@dataclass
class SimJob:
    id: str
    output_key: str
    submitted_at: float
    status: str = "IN_QUEUE"
    started_at: float | None = None
    finished_at: float | None = None


@dataclass
class SimEndpoint:
    """One endpoint: its GPUs, queue, jobs, limits and counters."""

    id: str
    gpus: int
    model_s: float
    limits: dict[str, float]
    jobs: dict[str, SimJob] = field(default_factory=dict)
    queue: deque[SimJob] = field(default_factory=deque)
    busy: int = 0
    busy_s: float = 0.0
    first_start: float | None = None
    last_end: float | None = None
    completed: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    rate_limited: Counter[str] = field(default_factory=Counter)
    windows: dict[str, deque[float]] = field(default_factory=dict)
    peaks: Counter[str] = field(default_factory=Counter)

    def arrived(self, route: str, now: float) -> bool:
        """Count a request; False (a 429) when the route is over its limit in the last 10 s."""
        self.requests[route] += 1
        window = self.windows.setdefault(route, deque())
        while window and window[0] <= now - WINDOW_S:
            window.popleft()
        if len(window) >= self.limits.get(route, float("inf")):
            self.rate_limited[route] += 1
            return False
        window.append(now)
        self.peaks[route] = max(self.peaks[route], len(window))
        return True

    def submit(self, job: SimJob) -> None:
        self.jobs[job.id] = job
        self.queue.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self.busy < self.gpus and self.queue:
            job = self.queue.popleft()
            if job.status != "IN_QUEUE":
                continue
            now = time.monotonic()
            job.status, job.started_at = "IN_PROGRESS", now
            self.first_start = now if self.first_start is None else self.first_start
            self.busy += 1
            loop.call_later(self.model_s, self._finish, job)

    def _finish(self, job: SimJob) -> None:
        now = time.monotonic()
        self.busy -= 1
        self.busy_s += now - (job.started_at or now)
        self.last_end = now
        if job.status == "IN_PROGRESS":
            job.status, job.finished_at = "COMPLETED", now
            self.completed += 1
        self._dispatch()

    def status(self, job: SimJob, now: float) -> dict[str, Any]:
        started = job.started_at if job.started_at is not None else now
        end = job.finished_at if job.finished_at is not None else now
        body: dict[str, Any] = {
            "id": job.id,
            "status": job.status,
            "delayTime": round((started - job.submitted_at) * 1000),
            "executionTime": round((end - started) * 1000) if job.started_at else 0,
        }
        if job.status == "IN_PROGRESS":
            step = min(STEPS, int((now - started) / self.model_s * STEPS))
            body["output"] = {"stage": "denoising", "step": step, "total": STEPS}
        elif job.status == "COMPLETED":
            body["output"] = {"output_key": job.output_key, "model": "simulated"}
        return body

    def stats(self) -> dict[str, Any]:
        return {
            "gpus": self.gpus,
            "completed": self.completed,
            "busy_s": self.busy_s,
            "first_start": self.first_start,
            "last_end": self.last_end,
            "requests": dict(self.requests),
            "rate_limited": dict(self.rate_limited),
            "peak_per_10s": dict(self.peaks),
            "limits_per_10s": self.limits,
        }


def create_sim_app(config: dict[str, Any]) -> Starlette:
    """`config`: {"endpoints": {id: gpus}, "model_s": float, "limits": {route: per 10 s}}."""
    endpoints = {
        endpoint_id: SimEndpoint(endpoint_id, int(gpus), float(config["model_s"]), config["limits"])
        for endpoint_id, gpus in config["endpoints"].items()
    }
    ids = itertools.count()

    def too_many() -> JSONResponse:
        return JSONResponse({"error": "too many requests"}, 429, headers={"Retry-After": "1"})

    def endpoint_of(request: Request) -> SimEndpoint | None:
        return endpoints.get(request.path_params["endpoint"])

    async def run(request: Request) -> JSONResponse:
        endpoint = endpoint_of(request)
        if endpoint is None:
            return JSONResponse({"error": "no such endpoint"}, 404)
        now = time.monotonic()
        if not endpoint.arrived("run", now):
            return too_many()
        body = await request.json()
        job = SimJob(f"sim-{next(ids)}", str(body["input"].get("output_key", "")), now)
        endpoint.submit(job)
        return JSONResponse({"id": job.id, "status": job.status})

    async def status(request: Request) -> JSONResponse:
        endpoint = endpoint_of(request)
        now = time.monotonic()
        if endpoint is None or not endpoint.arrived("status", now):
            return too_many() if endpoint is not None else JSONResponse({}, 404)
        job = endpoint.jobs.get(request.path_params["job"])
        if job is None:
            return JSONResponse({"error": "no such job"}, 404)
        return JSONResponse(endpoint.status(job, now))

    async def cancel(request: Request) -> JSONResponse:
        endpoint = endpoint_of(request)
        now = time.monotonic()
        if endpoint is None or not endpoint.arrived("cancel", now):
            return too_many() if endpoint is not None else JSONResponse({}, 404)
        job = endpoint.jobs.get(request.path_params["job"])
        if job is None:
            return JSONResponse({"error": "no such job"}, 404)
        if job.status in ("IN_QUEUE", "IN_PROGRESS"):
            job.status, job.finished_at = "CANCELLED", now
        return JSONResponse({"id": job.id, "status": job.status})

    async def health(request: Request) -> JSONResponse:
        endpoint = endpoint_of(request)
        if endpoint is None:
            return JSONResponse({}, 404)
        idle = endpoint.gpus - endpoint.busy
        return JSONResponse({"workers": {"idle": idle, "running": endpoint.busy}, "jobs": {}})

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse({e.id: e.stats() for e in endpoints.values()})

    return Starlette(
        routes=[
            Route("/v2/{endpoint}/run", run, methods=["POST"]),
            Route("/v2/{endpoint}/status/{job}", status, methods=["GET"]),
            Route("/v2/{endpoint}/cancel/{job}", cancel, methods=["POST"]),
            Route("/v2/{endpoint}/health", health, methods=["GET"]),
            Route("/_admin/stats", stats, methods=["GET"]),
        ]
    )


def main(argv: list[str]) -> None:
    config, port = json.loads(argv[0]), int(argv[1])
    uvicorn.run(
        create_sim_app(config),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=600,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
