"""A local RunPod-compatible serverless endpoint that runs the real handler with the CPU engine.

It speaks RunPod's `/v2/{endpoint_id}/...` API so Heirloom's client (and the `runpod` SDK) talk
to it unchanged, runs jobs on `devstack_runpod_workers` simulated GPU workers (sharing the
stack's storage, for claims by key), counts submissions and model executions per job_ref and
requests per operation (with the most in any one second, and per operation in any 10 s, as
RunPod limits them), and injects the faults in
`FaultSettings` (among them RunPod's request limits: 429 with Retry-After), changeable at run
time through the local-only `/_admin/...` routes (which take no API key and get no injected
latency).
Webhooks in `/run` bodies are accepted and ignored: Heirloom polls."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from PIL import Image
from pydantic import BaseModel, Field

from heirloom.config import FaultSettings, Settings
from heirloom.devstack.output_faults import OutputFault, damage
from heirloom.domain.jobs import Operation
from heirloom.gpu_handler.engines import CpuEngine, Engine
from heirloom.gpu_handler.handler import run_job
from heirloom.gpu_handler.progress import ModelStage, Progress, ProgressReporter, ignore_progress
from heirloom.services.storage.backend import make_storage

# RunPod's defaults when a request sets no policy.
_DEFAULT_EXECUTION_TIMEOUT_MS = 600_000
_DEFAULT_TTL_MS = 86_400_000
# How often simulated GPU time checks for cancellation, timeouts and shutdown.
_SLICE_S = 0.02
# The simulated GPU time reports itself as this many model steps.
_SIMULATED_STEPS = 20


class RunPodStatus(StrEnum):
    """RunPod's job states."""

    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def terminal(self) -> bool:
        return self not in (RunPodStatus.IN_QUEUE, RunPodStatus.IN_PROGRESS)


class Policy(BaseModel):
    """The per-job policy of a `/run` request; times in ms."""

    execution_timeout_ms: int = Field(
        default=_DEFAULT_EXECUTION_TIMEOUT_MS, alias="executionTimeout", gt=0
    )
    ttl_ms: int = Field(default=_DEFAULT_TTL_MS, alias="ttl", gt=0)


class RunRequest(BaseModel):
    """The body of `POST /run`."""

    input: dict[str, Any]
    policy: Policy = Field(default_factory=Policy)


@dataclass
class _Job:
    id: str
    input: dict[str, Any]
    policy: Policy
    submitted_at: float
    extra_execution_s: float
    injected: RunPodStatus | None
    status: RunPodStatus = RunPodStatus.IN_QUEUE
    started_at: float | None = None
    finished_at: float | None = None
    output: dict[str, Any] | None = None
    error: str | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    progress: dict[str, Any] | None = None
    # When a status request first saw it ended: how late the client noticed.
    seen_ended_at: float | None = None
    # What an injected output fault does to the model's image (devstack/output_faults.py).
    output_fault: OutputFault | None = None
    # The handler's last report when /cancel arrived, and where the handler says it stopped.
    progress_at_cancel: dict[str, Any] | None = None
    handler_stopped_at: dict[str, Any] | None = None

    def report(self, progress: Progress) -> None:
        """The handler's progress reporter: RunPod shows the last report as the output."""
        self.progress = progress.to_dict()

    def expired(self, now: float) -> bool:
        return now - self.submitted_at > self.policy.ttl_ms / 1000

    def to_status(self, now: float) -> dict[str, Any]:
        end = self.finished_at if self.finished_at is not None else now
        started = self.started_at if self.started_at is not None else end
        body: dict[str, Any] = {
            "id": self.id,
            "status": self.status.value,
            "delayTime": _ms(started - self.submitted_at),
            "executionTime": _ms(end - started),
        }
        if self.status is RunPodStatus.COMPLETED:
            body["output"] = self.output
        if self.status is RunPodStatus.IN_PROGRESS and self.progress is not None:
            body["output"] = self.progress
        if self.status is RunPodStatus.FAILED:
            body["error"] = self.error
        return body


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


class _Endpoint:
    """The endpoint's in-memory state: jobs, simulated GPU workers, faults and counters."""

    def __init__(self, settings: Settings) -> None:
        self.faults = settings.faults
        self.workers = settings.devstack_runpod_workers
        self._engine = CpuEngine()
        self._storage = make_storage(settings)
        # Only request handlers on the event loop draw from it, so a run is reproducible.
        self._rng = random.Random(0)
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._busy = 0
        self._stats: Counter[str] = Counter()
        # Arrival times of the last second's /run, /status and /cancel requests.
        self._recent: deque[float] = deque()
        self._peak_per_s = 0
        # Arrival times of the last 10 s per operation, and the most in any 10 s: RunPod's
        # limits are per 10 s per route, so a pool's per-endpoint budgets are checked by it.
        self._recent_10s: dict[str, deque[float]] = {}
        self._peak_per_10s: Counter[str] = Counter()
        # The shortest time from a 429 to the next request: a client honouring Retry-After
        # waits that long (when it has no other request on the wire).
        self._last_429_at: float | None = None
        self._gap_after_429: float | None = None
        self._submitted_by_ref: Counter[str] = Counter()
        self._executed_by_ref: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="fake-gpu")

    def chance(self, probability: float) -> bool:
        return probability > 0 and self._rng.random() < probability

    def arrived(self, operation: str) -> JSONResponse | None:
        """Count a `/run`, `/status` or `/cancel` request; a 429 if it is over the rate limit.

        Keeps the most requests seen in any one second, so tests and benchmarks can check a
        client's request budget.
        """
        now = time.monotonic()
        with self._lock:
            self._stats[f"requests_{operation}"] += 1
            recent = self._recent
            recent.append(now)
            while recent[0] <= now - 1:
                recent.popleft()
            self._peak_per_s = max(self._peak_per_s, len(recent))
            window = self._recent_10s.setdefault(operation, deque())
            window.append(now)
            while window[0] <= now - 10:
                window.popleft()
            self._peak_per_10s[operation] = max(self._peak_per_10s[operation], len(window))
            if self._last_429_at is not None:
                gap = now - self._last_429_at
                self._gap_after_429 = min(self._gap_after_429 or gap, gap)
                self._last_429_at = None
            limit = self.faults.rate_limit_per_s
            if limit and len(recent) > limit:
                return self._too_many_locked()
        return None

    def _too_many_locked(self) -> JSONResponse:
        self._stats["rate_limited"] += 1
        self._last_429_at = time.monotonic()
        seconds = self.faults.retry_after_s
        headers = {"Retry-After": str(seconds)} if seconds else None
        return JSONResponse({"error": "too many requests"}, status_code=429, headers=headers)

    def http_fault(self) -> JSONResponse | None:
        """An injected 429 or 5xx answer for `/run` and `/status`, if the dice say so."""
        if self.chance(self.faults.http_429):
            with self._lock:
                return self._too_many_locked()
        if self.chance(self.faults.http_5xx):
            code = self._rng.choice((500, 503))
            return JSONResponse({"error": "injected fault: server error"}, status_code=code)
        return None

    def submit(self, request: RunRequest) -> _Job:
        faults = self.faults
        injected = None
        if self.chance(faults.stuck_in_queue):
            injected = RunPodStatus.IN_QUEUE
        elif self.chance(faults.failed):
            injected = RunPodStatus.FAILED
        elif self.chance(faults.timeout):
            injected = RunPodStatus.TIMED_OUT
        now = time.monotonic()
        job = _Job(
            id=str(uuid.uuid4()),
            input=request.input,
            policy=request.policy,
            submitted_at=now,
            extra_execution_s=faults.execution_ms / 1000,
            injected=injected,
            output_fault=self._output_fault(),
        )
        with self._lock:
            self._forget_expired(now)
            self._jobs[job.id] = job
            self._stats["submitted"] += 1
            job_ref = request.input.get("job_ref")
            if isinstance(job_ref, str):
                self._submitted_by_ref[job_ref] += 1
        if injected is not RunPodStatus.IN_QUEUE:
            self._pool.submit(self._work, job)
        return job

    def _output_fault(self) -> OutputFault | None:
        """Drawn at submission, so a test can change the faults between a job's model tries."""
        faults = self.faults
        for fault, probability in (
            (OutputFault.BLANK, faults.blank_output),
            (OutputFault.CROPPED, faults.cropped_output),
            (OutputFault.DIFFERENT_FACE, faults.different_face),
        ):
            if self.chance(probability):
                return fault
        return None

    def status(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._find(job_id)
            now = time.monotonic()
            if job.status is RunPodStatus.IN_PROGRESS:
                # Someone is waiting on a running model call: what chaos kills aim at.
                self._stats["in_progress_polls"] += 1
            elif job.status.terminal and job.seen_ended_at is None:
                job.seen_ended_at = now
            return job.to_status(now)

    def cancel(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._find(job_id)
            if job.status is RunPodStatus.IN_PROGRESS and job.progress_at_cancel is None:
                job.progress_at_cancel = job.progress
            # Like RunPod, the "runpod" mode only marks the job: a synchronous handler cannot
            # be interrupted, so its own cancel check is what stops the work.
            if self.faults.cancel_mode == "interrupt":
                job.cancel_requested.set()
            self._finish_locked(job, RunPodStatus.CANCELLED)
            return {"id": job.id, "status": job.status.value}

    def purge_queue(self) -> int:
        with self._lock:
            queued = [job for job in self._jobs.values() if job.status is RunPodStatus.IN_QUEUE]
            for job in queued:
                self._finish_locked(job, RunPodStatus.CANCELLED)
        return len(queued)

    def health(self) -> dict[str, Any]:
        with self._lock:
            # Counted apart from the rate-limited operations: readiness caching is tested by it.
            self._stats["requests_health"] += 1
            counts = Counter(job.status for job in self._jobs.values())
            busy = self._busy
        return {
            "jobs": {
                "completed": counts[RunPodStatus.COMPLETED],
                "failed": counts[RunPodStatus.FAILED] + counts[RunPodStatus.TIMED_OUT],
                "inProgress": counts[RunPodStatus.IN_PROGRESS],
                "inQueue": counts[RunPodStatus.IN_QUEUE],
                "retried": 0,
            },
            "workers": {"idle": self.workers - busy, "running": busy},
        }

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "submitted": self._stats["submitted"],
                "submitted_by_ref": dict(self._submitted_by_ref),
                "model_executions": sum(self._executed_by_ref.values()),
                "model_executions_by_ref": dict(self._executed_by_ref),
                "in_progress_polls": self._stats["in_progress_polls"],
                "cancelled": self._stats[RunPodStatus.CANCELLED],
                "completed": self._stats[RunPodStatus.COMPLETED],
                "failed": self._stats[RunPodStatus.FAILED],
                "timed_out": self._stats[RunPodStatus.TIMED_OUT],
                "requests": {
                    operation: self._stats[f"requests_{operation}"]
                    for operation in ("run", "status", "cancel", "health")
                },
                "rate_limited": self._stats["rate_limited"],
                "peak_requests_per_s": self._peak_per_s,
                "peak_requests_per_10s": {
                    operation: self._peak_per_10s[operation]
                    for operation in ("run", "status", "cancel")
                },
                "shortest_wait_after_429_s": self._gap_after_429,
            }

    def runs(self) -> list[dict[str, Any]]:
        """Every job it knows, with wall-clock times (Unix seconds): for benchmarks that line
        GPU time up with their own clocks."""
        offset = time.time() - time.monotonic()

        def wall(at: float | None) -> float | None:
            return None if at is None else at + offset

        with self._lock:
            return [
                {
                    "id": job.id,
                    "job_ref": job.input.get("job_ref"),
                    "status": job.status.value,
                    "submitted_at": wall(job.submitted_at),
                    "started_at": wall(job.started_at),
                    "finished_at": wall(job.finished_at),
                    "seen_ended_at": wall(job.seen_ended_at),
                    "progress": job.progress,
                    "progress_at_cancel": job.progress_at_cancel,
                    "handler_stopped_at": job.handler_stopped_at,
                }
                for job in self._jobs.values()
            ]

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()
            self._recent.clear()
            self._peak_per_s = 0
            self._recent_10s.clear()
            self._peak_per_10s.clear()
            self._last_429_at = None
            self._gap_after_429 = None
            self._submitted_by_ref.clear()
            self._executed_by_ref.clear()

    def close(self) -> None:
        """Stop the workers: queued jobs are dropped, running ones stop at their next slice."""
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _find(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is None or job.expired(time.monotonic()):
            self._jobs.pop(job_id, None)
            raise HTTPException(status_code=404, detail=f"job {job_id} does not exist")
        return job

    def _forget_expired(self, now: float) -> None:
        for job_id in [job.id for job in self._jobs.values() if job.expired(now)]:
            del self._jobs[job_id]

    def _finish_locked(
        self,
        job: _Job,
        status: RunPodStatus,
        output: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        # The first ending wins: a cancel that lands while the handler runs keeps CANCELLED.
        if job.status.terminal:
            return
        job.status, job.output, job.error = status, output, error
        job.finished_at = time.monotonic()
        self._stats[status] += 1

    def _work(self, job: _Job) -> None:
        with self._lock:
            if job.status is not RunPodStatus.IN_QUEUE or self._stopping.is_set():
                return
            job.status = RunPodStatus.IN_PROGRESS
            job.started_at = time.monotonic()
            self._busy += 1
        try:
            status, output, error = self._execute(job, job.started_at)
        finally:
            with self._lock:
                self._busy -= 1
        if status is not None:
            with self._lock:
                self._finish_locked(job, status, output, error)

    def _execute(
        self, job: _Job, started_at: float
    ) -> tuple[RunPodStatus | None, dict[str, Any] | None, str | None]:
        deadline = started_at + job.policy.execution_timeout_ms / 1000
        if job.injected in (RunPodStatus.FAILED, RunPodStatus.TIMED_OUT):
            # The injected ending comes after the GPU time, without running the handler.
            if not self._simulate_gpu_time(job, deadline, job.report):
                return self._interrupted(deadline)
            if job.injected is RunPodStatus.FAILED:
                return RunPodStatus.FAILED, None, "injected fault: the worker failed this job"
            return RunPodStatus.TIMED_OUT, None, None
        # The simulated GPU time is the model's: a handler run that stops before the model
        # (bad input, a claimed job) takes none of it.
        engine = _CountedEngine(
            self._engine,
            lambda progress: self._model_call(job, deadline, progress),
            job.output_fault,
            simulated=job.extra_execution_s > 0,
        )
        try:
            output = run_job(
                {"id": job.id, "input": job.input}, engine, self._storage, progress=job.report
            )
        except _Interrupted:
            return self._interrupted(deadline)
        except Exception as exc:  # RunPod turns any handler exception into a FAILED job.
            return RunPodStatus.FAILED, None, f"handler: {type(exc).__name__}: {exc}"
        if output.get("cancelled"):
            # The handler stopped itself (its claim was withdrawn): like RunPod, the job ends
            # with that answer unless a /cancel already ended it.
            job.handler_stopped_at = dict(output)
            return RunPodStatus.COMPLETED, output, None
        if time.monotonic() >= deadline:
            return RunPodStatus.TIMED_OUT, None, None
        error = output.pop("error", None)
        if error is not None:
            return RunPodStatus.FAILED, None, str(error)
        return RunPodStatus.COMPLETED, output, None

    @staticmethod
    def _interrupted(
        deadline: float,
    ) -> tuple[RunPodStatus | None, dict[str, Any] | None, str | None]:
        if time.monotonic() >= deadline:
            return RunPodStatus.TIMED_OUT, None, None
        return None, None, None

    def _model_call(self, job: _Job, deadline: float, progress: ProgressReporter) -> None:
        """Count a model execution and spend its simulated GPU time, reporting its steps to
        the handler's `progress` (whose cancel check may stop it)."""
        self._count_execution(job)
        if not self._simulate_gpu_time(job, deadline, progress):
            raise _Interrupted()

    def _count_execution(self, job: _Job) -> None:
        job_ref = job.input.get("job_ref")
        with self._lock:
            self._executed_by_ref[job_ref if isinstance(job_ref, str) else ""] += 1

    def _simulate_gpu_time(self, job: _Job, deadline: float, progress: ProgressReporter) -> bool:
        """Spend the injected extra time as the model's denoising steps, each reported when
        done the way a GPU model's step callback does; False if interrupted (cancelled in the
        interrupt mode), timed out or stopping."""
        if job.extra_execution_s <= 0:
            return time.monotonic() < deadline
        start = time.monotonic()
        step_s = job.extra_execution_s / _SIMULATED_STEPS
        progress(Progress(ModelStage.ENCODING, 0, _SIMULATED_STEPS))
        for step in range(1, _SIMULATED_STEPS + 1):
            done_at = start + step * step_s
            while (now := time.monotonic()) < done_at:
                if job.cancel_requested.is_set() or self._stopping.is_set() or now >= deadline:
                    return False
                time.sleep(min(_SLICE_S, done_at - now))
            progress(Progress(ModelStage.DENOISING, step, _SIMULATED_STEPS))
        return time.monotonic() < deadline


class _Interrupted(Exception):
    """The simulated model call stopped: cancelled, timed out or shutting down."""


class _CountedEngine:
    """An engine whose every model run first calls `on_apply` with the handler's progress
    reporter (counting, simulated GPU time), and whose image an injected output fault spoils.

    With simulated GPU time, its steps are the model's denoising steps: the wrapped engine's
    own steps are not reported again, only the decoding after them.
    """

    def __init__(
        self,
        engine: Engine,
        on_apply: Callable[[ProgressReporter], None],
        output_fault: OutputFault | None = None,
        *,
        simulated: bool = False,
    ) -> None:
        self._engine = engine
        self._on_apply = on_apply
        self._output_fault = output_fault
        self._simulated = simulated
        self.name = engine.name
        self.model = engine.model
        self.provenance = engine.provenance

    def apply(
        self,
        image: Image.Image,
        operations: Sequence[Operation],
        *,
        seed: int = 0,
        progress: ProgressReporter = ignore_progress,
    ) -> Image.Image:
        self._on_apply(progress)
        if self._simulated:
            result = self._engine.apply(image, operations, seed=seed)
            progress(Progress(ModelStage.DECODING, _SIMULATED_STEPS, _SIMULATED_STEPS))
        else:
            result = self._engine.apply(image, operations, seed=seed, progress=progress)
        return result if self._output_fault is None else damage(result, self._output_fault)


# A fault hook: called with a /run's job_ref after the job is accepted, before the answer.
FaultAfterRun = Callable[[str | None], Awaitable[None]]


def create_endpoint_app(
    settings: Settings, *, fault_after_run: FaultAfterRun | None = None
) -> FastAPI:
    """Build the local RunPod endpoint app; its lifespan owns the simulated GPU workers.

    `fault_after_run` is for harnesses only: it runs once RunPod has accepted a job and before
    the client hears its id, the exactly-once window a chaos run kills the worker inside.
    """
    state = _Endpoint(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.close()

    app = FastAPI(title="Heirloom local RunPod endpoint", lifespan=lifespan)

    @app.middleware("http")
    async def add_latency(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path.startswith("/v2/") and state.faults.latency_ms:
            await asyncio.sleep(state.faults.latency_ms / 1000)
        return await call_next(request)

    def check_access(
        endpoint_id: str, authorization: Annotated[str | None, Header()] = None
    ) -> None:
        # The runpod SDK sends "Bearer <key>"; RunPod also takes the bare key, as curl examples do.
        key = settings.runpod_api_key
        if authorization not in (f"Bearer {key}", key):
            raise HTTPException(status_code=401, detail="invalid or missing API key")
        if endpoint_id != settings.runpod_endpoint_id:
            raise HTTPException(status_code=404, detail=f"endpoint {endpoint_id} does not exist")

    access = [Depends(check_access)]

    @app.post("/v2/{endpoint_id}/run", dependencies=access, response_model=None)
    async def run(request: RunRequest) -> dict[str, Any] | JSONResponse:
        if (fault := state.arrived("run") or state.http_fault()) is not None:
            return fault
        job = state.submit(request)
        if fault_after_run is not None:
            job_ref = request.input.get("job_ref")
            await fault_after_run(job_ref if isinstance(job_ref, str) else None)
        return {"id": job.id, "status": job.status.value}

    @app.get("/v2/{endpoint_id}/status/{job_id}", dependencies=access, response_model=None)
    async def status(job_id: str) -> dict[str, Any] | JSONResponse:
        if (fault := state.arrived("status") or state.http_fault()) is not None:
            return fault
        return state.status(job_id)

    @app.post("/v2/{endpoint_id}/cancel/{job_id}", dependencies=access, response_model=None)
    async def cancel(job_id: str) -> dict[str, Any] | JSONResponse:
        if (fault := state.arrived("cancel")) is not None:
            return fault
        return state.cancel(job_id)

    @app.get("/v2/{endpoint_id}/health", dependencies=access)
    async def health() -> dict[str, Any]:
        return state.health()

    @app.post("/v2/{endpoint_id}/purge-queue", dependencies=access)
    async def purge_queue() -> dict[str, Any]:
        return {"removed": state.purge_queue(), "status": "completed"}

    @app.get("/_admin/faults")
    async def get_faults() -> FaultSettings:
        return state.faults

    @app.put("/_admin/faults")
    async def put_faults(faults: FaultSettings) -> FaultSettings:
        state.faults = faults
        return faults

    @app.get("/_admin/stats")
    async def get_stats() -> dict[str, Any]:
        return state.stats()

    @app.get("/_admin/runs")
    async def get_runs() -> list[dict[str, Any]]:
        return state.runs()

    @app.post("/_admin/reset-stats", status_code=204)
    async def reset_stats() -> None:
        state.reset_stats()

    return app


def serve_endpoint(settings: Settings) -> None:
    """Serve the local RunPod endpoint on the devstack host and port until interrupted."""
    uvicorn.run(
        create_endpoint_app(settings),
        host=settings.devstack_runpod_host,
        port=settings.devstack_runpod_port,
        log_level="warning",
    )
