"""ModelStep: a job's model run on RunPod, exactly once, whichever attempt runs it.

An attempt resumes the RunPod job an earlier attempt recorded while RunPod still runs it. A
recorded job seen dead opens the next claim generation, so a new submission may run the model;
an attempt that merely lost its id keeps the generation. The handler claims the job's current
generation before any model work; a submission that finds the claim taken answers
`duplicate_of`, and the step follows the claimant. Every RunPod request goes through the
worker's poll scheduler (polls.py). Temporal stays outside: whoever runs the step passes its
attempt number, a heartbeat and how a cancel is meant (`StepAttempt`).

The GPU pool (pool.py) picks the endpoint of a new submission and holds its slot until the run
ends. A job's RunPod job stays on its endpoint: a retry resumes it there, a `/run` whose answer
was lost is sent again to the same endpoint (pinned on the job row), and only a RunPod job
seen dead (or a `/run` that never left) lets the next submission go elsewhere, avoiding the
endpoint it died on.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from heirloom.config import Settings
from heirloom.domain.errors import (
    HeirloomError,
    JobCancelled,
    ModelFailed,
    ModelTimedOut,
    ModelUnavailable,
)
from heirloom.domain.jobs import MODEL_PROGRESS_SPAN, Stage, model_progress
from heirloom.domain.messages import ModelRequest, ModelResult
from heirloom.domain.model_progress import WORKER_FAULT_PREFIX
from heirloom.domain.provenance import provenance_of
from heirloom.services.runpod.budget import CANCEL_ROUTE, RUN_ROUTE, STATUS_ROUTE
from heirloom.services.runpod.client import (
    TERMINAL_STATUSES,
    NotSent,
    RateLimited,
    RunPodJobState,
    RunPodService,
)
from heirloom.services.runpod.polls import PollScheduler
from heirloom.services.runpod.pool import EndpointPool, Lease, PoolEndpoint
from heirloom.services.runpod.runs import AttemptRecord, ModelRuns
from heirloom.services.runpod.transfer import ModelTransfer
from heirloom.services.storage.base import Storage
from heirloom.services.storage.keys import claims_prefix, model_key, model_outputs_prefix

log = logging.getLogger(__name__)

# RunPod states after which a stored job id cannot be resumed and a new job is submitted.
_DEAD_STATES = TERMINAL_STATUSES - {"COMPLETED"}
# A RunPod job that ends FAILED or TIMED_OUT is tried once more with a fresh RunPod job; the
# attempt that sees the second one end so is the last.
FAILED_RUN_ATTEMPTS = 2


class JobStages(Protocol):
    """Where the step shows the job's stage and progress: the jobs' JobStore (which imports
    this package, hence a protocol)."""

    def set_stage(self, job_id: str, stage: Stage, *, runpod_job_id: str | None = None) -> None:
        """Mark the job running at `stage`, with its RunPod job once submitted."""

    def set_progress(self, job_id: str, progress: int) -> None:
        """Raise the job's progress; a lower figure changes nothing."""

    def set_model(self, job_id: str, model: str, provenance: dict[str, Any] | None = None) -> None:
        """Record what made the job's model output (and its fields: domain/provenance.py)."""


@dataclass(frozen=True)
class StepAttempt:
    """What the runner of one attempt tells the step (an activity: Temporal's attempt)."""

    number: int
    # Called with (RunPod job id, progress %) after each poll, and with nothing while a
    # request waits for the budget; at least every `heartbeat_every_s` while the job runs.
    heartbeat: Callable[..., None]
    heartbeat_every_s: float
    # Asked when the step is cancelled: True if the job itself is being cancelled (the GPU job
    # is stopped), False if only this attempt is abandoned (a retry resumes the GPU job).
    cancel_requested: Callable[[], bool]


@dataclass(frozen=True)
class _Start:
    """Where an attempt starts: a RunPod job to resume, a stored output, or a submission."""

    runpod_job_id: str | None
    generation: int
    stored: ModelResult | None = None
    # The endpoint of the RunPod job to resume, or of a /run whose answer was lost.
    endpoint: str | None = None
    # The endpoint the job's previous RunPod job died on: the next goes elsewhere if it can.
    avoid: tuple[str, ...] = ()


class ModelStep:
    """Runs a job's model on RunPod exactly once, resuming what an earlier attempt started."""

    def __init__(
        self,
        *,
        runpod: RunPodService,
        polls: PollScheduler,
        runs: ModelRuns,
        jobs: JobStages,
        storage: Storage,
        transfer: ModelTransfer,
        settings: Settings,
        pool: EndpointPool | None = None,
    ) -> None:
        self.runpod = runpod
        self.polls = polls
        # A step built outside a worker runs on a pool of one over `runpod` and `polls`.
        self.pool = pool if pool is not None else EndpointPool.single(settings, runpod, polls)
        self.runs = runs
        self.jobs = jobs
        self.storage = storage
        self.transfer = transfer
        self.settings = settings

    async def run(self, request: ModelRequest, attempt: StepAttempt) -> ModelResult:
        """The job's model output, stored at its model key.

        Async, so the minutes of GPU time hold no thread: only database and storage work
        borrows one briefly. Raises ModelFailed, ModelTimedOut or ModelUnavailable, and
        JobCancelled when the handler stopped itself because its claim was withdrawn.
        """
        job = request.job
        begun = self.pool.clock()
        lease: Lease | None = None
        try:
            start = await self._start(request, attempt)
            if start.stored is not None:
                return start.stored
            # The job leaves the queue positions' count once its run is at RunPod: a new run
            # is marked by the write that makes its RunPod id durable (one statement, after
            # /run), a resumed one here.
            if start.runpod_job_id is None:
                lease, polled = await self._submit(request, start, attempt, begun)
            else:
                await asyncio.to_thread(self.jobs.set_stage, job.job_id, Stage.PROCESSING)
                lease = self.pool.attach(start.endpoint)
                polled = start.runpod_job_id
                log.info(
                    "job %s resumes RunPod job %s on %s", job.job_id, polled, lease.endpoint_id
                )
            try:
                state = await self._wait_for_end(job.job_id, polled, attempt, lease)
                claimant = _duplicate_of(state)
                if claimant is not None:
                    home = await self.pool.locate(claimant, lease.endpoint)
                    await asyncio.to_thread(
                        self._follow_claimant,
                        request,
                        attempt,
                        start.generation,
                        state,
                        claimant,
                        (lease.endpoint_id, home.id),
                    )
                    log.info("job %s follows the claimant RunPod job %s", job.job_id, claimant)
                    lease = self.pool.move(lease, home.id)
                    polled = claimant
                    state = await self._wait_for_end(job.job_id, polled, attempt, lease)
            except asyncio.CancelledError:
                # Only the job's cancel stops the GPU job; a timed-out or abandoned attempt
                # leaves it running for the retry to resume.
                if attempt.cancel_requested():
                    await self.cancel_gpu_job(job.job_id, polled, lease.endpoint)
                    await asyncio.to_thread(self.withdraw, request)
                raise
            self.pool.run_ended(lease, state)
            ran_on = lease.endpoint_id
        finally:
            if lease is not None:
                self.pool.release(lease)
        # The run ended: what is left holds no GPU (admission counts it so).
        self.pool.finishing += 1
        try:
            await asyncio.to_thread(
                self._record_attempt, request, attempt, start.generation, state, ran_on
            )
            return await asyncio.to_thread(
                self._store_output, request, state, attempt, start.generation
            )
        finally:
            self.pool.finishing -= 1

    async def cancel_gpu_job(
        self, job_id: str, runpod_job_id: str, endpoint: PoolEndpoint | None = None
    ) -> None:
        """Stop the RunPod job of a cancelled step on its endpoint; the compensation tries
        again if this fails or would wait out a long rate-limit pause."""
        on = endpoint or self.pool.first
        try:
            async with asyncio.timeout(self.settings.runpod_request_timeout_s):
                await on.polls.call(
                    lambda: on.service.cancel_async(runpod_job_id), route=CANCEL_ROUTE
                )
        except (HeirloomError, TimeoutError) as err:
            log.warning("job %s: cancelling RunPod job %s failed: %s", job_id, runpod_job_id, err)

    def withdraw(self, request: ModelRequest) -> None:
        """Take back what a cancelled job's model run holds in storage (withdraw_model_run)."""
        withdraw_model_run(self.storage, request)

    async def _start(self, request: ModelRequest, attempt: StepAttempt) -> _Start:
        """Where this attempt starts: a live RunPod job to resume, a stored output, or a submit.

        A recorded RunPod job seen dead opens the next claim generation, so the new submission
        may run the model; one that merely lost its id keeps the generation and is a duplicate.
        """
        job = request.job
        if attempt.number == 1 and request.model_try == 1:
            return _Start(runpod_job_id=None, generation=0)
        if attempt.number == 1:
            # The quality gate's next try: a new claim, so the model runs again.
            generation = await asyncio.to_thread(self.runs.next_try_generation, job.job_id)
            return _Start(runpod_job_id=None, generation=generation)
        current = await asyncio.to_thread(self.runs.state, job.job_id)
        runpod_job_id = current.runpod_job_id
        if runpod_job_id is None:
            # A pinned endpoint may hold a /run whose answer was lost: submit there again.
            return _Start(None, current.generation, endpoint=current.endpoint)
        endpoint = self.pool.get(current.endpoint)
        try:
            state = await endpoint.polls.call(
                lambda: endpoint.service.status_async(runpod_job_id),
                on_wait=attempt.heartbeat,
                route=STATUS_ROUTE,
            )
        except ModelFailed:  # RunPod no longer knows the job (past its TTL)
            key = model_key(job.user_id, job.job_id, current.generation)
            if await asyncio.to_thread(self.storage.exists, key):
                stored = ModelResult(model_key=key, runpod_job_id=runpod_job_id)
                return _Start(runpod_job_id, current.generation, stored=stored)
        except ModelUnavailable as err:
            self.pool.observe_error(endpoint, err)
            raise
        else:
            if state.status not in _DEAD_STATES:
                return _Start(runpod_job_id, current.generation, endpoint=endpoint.id)
            await asyncio.to_thread(
                self._record_attempt, request, attempt, current.generation, state, endpoint.id
            )
        generation = await asyncio.to_thread(self.runs.next_generation, job.job_id, runpod_job_id)
        log.info(
            "job %s: RunPod job %s on %s is dead, claim generation %d",
            job.job_id,
            runpod_job_id,
            endpoint.id,
            generation,
        )
        return _Start(runpod_job_id=None, generation=generation, avoid=(endpoint.id,))

    async def _submit(
        self, request: ModelRequest, start: _Start, attempt: StepAttempt, begun: float
    ) -> tuple[Lease, str]:
        """Lease a slot, submit, then make the RunPod id (and its endpoint) durable before
        anything polls it. The time from the step's start (`begun`) to its /run tells the
        admission of prefetched steps how early to take them."""
        job = request.job
        if start.endpoint is not None:
            lease = self.pool.attach(start.endpoint)
        else:
            lease = await self.pool.acquire(
                request.tier, avoid=start.avoid, on_wait=attempt.heartbeat
            )
        endpoint = lease.endpoint
        try:
            payload = await asyncio.to_thread(self.transfer.payload, request, start.generation)

            async def send() -> str:
                lease.submitted_at = self.pool.clock()
                return await endpoint.service.submit_async(
                    payload,
                    execution_timeout_s=self.settings.runpod_execution_timeout_s,
                    ttl_s=self.settings.runpod_ttl_s,
                )

            runpod_job_id = await endpoint.polls.call(
                send, on_wait=attempt.heartbeat, route=RUN_ROUTE
            )
            if lease.submitted_at is not None:
                self.pool.note_dispatch(lease.submitted_at - begun)
        except NotSent as err:
            self.pool.observe_error(endpoint, err)
            self.pool.release(lease)
            raise
        except ModelUnavailable as err:
            # RunPod may have queued the job: the retry sends it to this endpoint again.
            if not isinstance(err, RateLimited):
                self.pool.observe_error(endpoint, err)
            self.pool.release(lease)
            await asyncio.to_thread(self.runs.pin_endpoint, job.job_id, endpoint.id)
            raise
        except BaseException:
            self.pool.release(lease)
            raise
        await asyncio.to_thread(
            self.jobs.set_stage, job.job_id, Stage.PROCESSING, runpod_job_id=runpod_job_id
        )
        if len(self.pool.endpoints) > 1:
            # The first endpoint is the one a row without an endpoint means.
            await asyncio.to_thread(
                self.runs.record_runpod_job, job.job_id, runpod_job_id, endpoint.id
            )
        return lease, runpod_job_id

    async def _wait_for_end(
        self, job_id: str, runpod_job_id: str, attempt: StepAttempt, lease: Lease
    ) -> RunPodJobState:
        """Follow the RunPod job through the worker's poll scheduler until it ends.

        Heartbeats go with each poll's answer, and while the scheduler holds the next poll back
        (the budget, a 429's pause); a poll that hangs sends none, so the heartbeat timeout
        catches it.
        """
        heartbeat = attempt.heartbeat
        progress = MODEL_PROGRESS_SPAN[0]
        failed_polls = 0
        endpoint = lease.endpoint
        watching = endpoint.polls.watch(
            runpod_job_id,
            pace=lease.pace if endpoint.paced else None,
            first_wait_s=lease.first_wait_s(),
        )
        async with watching as watch:
            lease.watch = watch
            heartbeat(runpod_job_id, progress)
            while True:
                try:
                    state = await watch.next(attempt.heartbeat_every_s)
                except ModelUnavailable as err:
                    # A failed status check is not a failed model call: the GPU job runs on.
                    # Only a provider that stays unreachable fails this attempt.
                    self.pool.observe_error(endpoint, err)
                    failed_polls += 1
                    if failed_polls > self.settings.runpod_status_error_limit:
                        raise
                    heartbeat(runpod_job_id, progress)
                    continue
                if state is None:
                    if not watch.polling:
                        heartbeat(runpod_job_id, progress)
                    continue
                failed_polls = 0
                if state.terminal:
                    return state
                progress = await self._forward_progress(job_id, state, progress)
                heartbeat(runpod_job_id, progress)

    async def _forward_progress(self, job_id: str, state: RunPodJobState, shown: int) -> int:
        """Write the handler's reported progress to the job when it moved forward; the new
        figure goes out with the next heartbeat. Never backwards, even for a retried attempt.
        """
        if state.status != "IN_PROGRESS":
            return shown
        reported = model_progress(state.output)
        if reported is None or reported <= shown:
            return shown
        await asyncio.to_thread(self.jobs.set_progress, job_id, reported)
        return reported

    def _follow_claimant(
        self,
        request: ModelRequest,
        attempt: StepAttempt,
        generation: int,
        duplicate: RunPodJobState,
        claimant: str,
        endpoints: tuple[str, str],
    ) -> None:
        """Record the duplicate with its GPU time and make the claimant (on the second of
        `endpoints`) the job's RunPod job."""
        duplicate_on, claimant_on = endpoints
        self._record_attempt(
            request, attempt, generation, duplicate, duplicate_on, duplicate_of=claimant
        )
        self.runs.record_runpod_job(
            request.job.job_id,
            claimant,
            claimant_on if len(self.pool.endpoints) > 1 else None,
        )

    def _record_attempt(
        self,
        request: ModelRequest,
        attempt: StepAttempt,
        generation: int,
        state: RunPodJobState,
        endpoint: str | None = None,
        *,
        duplicate_of: str | None = None,
    ) -> None:
        self.runs.record_attempt(
            AttemptRecord(
                job_id=request.job.job_id,
                attempt=attempt.number,
                generation=generation,
                runpod_job_id=state.job_id,
                status=state.status,
                execution_ms=state.execution_time_ms,
                delay_ms=state.delay_time_ms,
                duplicate_of=duplicate_of,
                model_try=request.model_try,
                endpoint=endpoint,
            )
        )

    def _store_output(
        self,
        request: ModelRequest,
        state: RunPodJobState,
        attempt: StepAttempt,
        generation: int,
    ) -> ModelResult:
        """Keep the ended RunPod job's output at its generation's model key, or raise why there
        is none."""
        job = request.job
        key = model_key(job.user_id, job.job_id, generation)
        output: dict[str, Any] = state.output or {}
        made_by = provenance_of(output.get("provenance"))
        result = ModelResult(
            model_key=key,
            runpod_job_id=state.job_id,
            execution_time_ms=state.execution_time_ms,
            provenance=made_by,
        )
        if state.status == "COMPLETED" and output.get("cancelled") is True:
            # The handler stopped itself: its claim was withdrawn (the job cancelled, settled or
            # its owner's files erased). The cancelled path, not a model failure: no retry.
            raise JobCancelled(
                "The model run stopped itself at "
                f"{output.get('stage')} step {output.get('step')}/{output.get('total')}: its "
                "claim was withdrawn (the job was cancelled, settled or its files erased).",
                runpod_job=state.job_id,
            )
        model = output.get("model")
        if state.status == "COMPLETED" and isinstance(model, str) and model:
            self.jobs.set_model(job.job_id, model, made_by)
        # The handler wrote it to the key the worker presigned; only that key is trusted.
        if state.status == "COMPLETED" and output.get("output_key") == key:
            if not self.storage.exists(key):
                raise ModelFailed(
                    "The model's output is missing from storage.", attempt=attempt.number
                )
            return result
        if state.status == "COMPLETED" and "image_base64" in output:
            image = base64.b64decode(output["image_base64"])
            self.storage.put(key, image, content_type="image/png")
            return result
        if state.status == "COMPLETED":
            raise ModelFailed("The model returned no image.", attempt=attempt.number)
        if state.status == "CANCELLED":
            raise ModelUnavailable("The RunPod job was cancelled by the provider.")
        if state.status == "FAILED" and (state.error or "").startswith(WORKER_FAULT_PREFIX):
            # The GPU worker broke (and asked RunPod for a fresh one): the job is not at fault.
            raise ModelUnavailable(f"The GPU worker failed: {state.error}")
        error_type = ModelTimedOut if state.status == "TIMED_OUT" else ModelFailed
        raise error_type(
            retryable=attempt.number < FAILED_RUN_ATTEMPTS,
            runpod_error=state.error or state.status,
        )


def withdraw_model_run(storage: Storage, request: ModelRequest) -> None:
    """Take back what a cancelled job's model run holds in storage: its claims first (the
    handler stops within one step of losing its claim, and deletes an upload that raced the
    cancel), then every generation's model output."""
    job = request.job
    storage.delete_prefix(claims_prefix(job.user_id, job.job_id))
    storage.delete_prefix(model_outputs_prefix(job.user_id, job.job_id))


def _duplicate_of(state: RunPodJobState) -> str | None:
    """The claimant's RunPod id when this RunPod job found the job already claimed."""
    if state.status != "COMPLETED" or not state.output:
        return None
    claimant = state.output.get("duplicate_of")
    return claimant if isinstance(claimant, str) and claimant != state.job_id else None
