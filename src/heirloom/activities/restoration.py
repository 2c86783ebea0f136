"""The restoration activities. Each is idempotent: Temporal may run any of them again."""

from __future__ import annotations

import asyncio
import base64
import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from temporalio import activity
from temporalio.exceptions import ApplicationError

from heirloom.domain.errors import (
    HeirloomError,
    ModelFailed,
    ModelTimedOut,
    ModelUnavailable,
)
from heirloom.domain.gpu_queue import model_step_priority
from heirloom.domain.jobs import MODEL_PROGRESS_SPAN, JobStatus, Stage, model_progress
from heirloom.domain.messages import (
    CompleteRequest,
    FinishRequest,
    JobRef,
    ModelRequest,
    ModelResult,
    PostprocessRequest,
    PostprocessResult,
    PreparedInput,
    PrepareRequest,
    RefundRequest,
    ReserveResult,
    RestorationInput,
)
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.imaging import pipeline as imaging
from heirloom.services.jobs.settlement import remove_partial_outputs, stop_gpu_job
from heirloom.services.jobs.store import ResultKeys
from heirloom.services.money.credits import NewJob
from heirloom.services.runpod.client import RunPodJobState
from heirloom.services.runpod.polls import PollScheduler
from heirloom.services.runpod.runs import AttemptRecord
from heirloom.services.runpod.transfer import ModelTransfer
from heirloom.services.storage.keys import job_key

log = logging.getLogger(__name__)

# A model step heartbeats at least this often while it waits for RunPod (and at least three
# times per heartbeat timeout).
HEARTBEAT_EVERY_S = 1.0

# RunPod states after which a stored job id cannot be resumed and a new job is submitted.
_DEAD_STATES = frozenset({"FAILED", "TIMED_OUT", "CANCELLED"})


@dataclass(frozen=True)
class _ModelRun:
    """Where a run_model attempt starts."""

    runpod_job_id: str | None
    generation: int
    stored: ModelResult | None = None


def _heartbeat() -> None:
    activity.heartbeat()


def _heartbeat_every_s() -> float:
    timeout = activity.info().heartbeat_timeout
    if timeout is None:
        return HEARTBEAT_EVERY_S
    return min(HEARTBEAT_EVERY_S, timeout.total_seconds() / 3)


def _duplicate_of(state: RunPodJobState) -> str | None:
    """The claimant's RunPod id when this RunPod job found the job already claimed."""
    if state.status != "COMPLETED" or not state.output:
        return None
    claimant = state.output.get("duplicate_of")
    return claimant if isinstance(claimant, str) and claimant != state.job_id else None


@contextmanager
def _reported() -> Iterator[None]:
    """Turn Heirloom errors into ApplicationErrors whose type is the stable code."""
    try:
        yield
    except HeirloomError as err:
        raise ApplicationError(
            err.message, err.to_dict(), type=err.code, non_retryable=not err.retryable
        ) from err


class RestorationActivities:
    """Activities over one set of services; registered on every tier's worker."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self._transfer = ModelTransfer(services.storage, services.settings)
        self._schedulers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PollScheduler] = (
            weakref.WeakKeyDictionary()
        )

    @activity.defn
    def reserve_credits(self, job: RestorationInput) -> ReserveResult:
        """Charge and create the job row; a refusal is an answer, not a failure."""
        try:
            reservation = self.services.credits.reserve(
                NewJob(
                    job_id=job.job_id,
                    user_id=job.user_id,
                    operations=job.operations,
                    tier=Tier(job.tier),
                    original_key=job.original_key,
                    idempotency_key=job.idempotency_key,
                    request_hash=job.request_hash,
                    retry_of=job.retry_of,
                    callback_url=job.callback_url,
                    gpu_priority=model_step_priority(
                        job.rules.gpu_priority, is_retry=job.retry_of is not None
                    ),
                )
            )
        except HeirloomError as err:
            if err.retryable:
                with _reported():
                    raise
            body = err.to_dict()
            return ReserveResult(
                accepted=False,
                error_code=err.code,
                error_message=err.message,
                error_details=body.get("details", {}),
            )
        return ReserveResult(accepted=True, cost=reservation.cost, balance=reservation.balance)

    @activity.defn
    def prepare_input(self, request: PrepareRequest) -> PreparedInput:
        """Decode, orient and shrink the original to the tier's size; store it as the input."""
        job = request.job
        with _reported():
            self.services.jobs.set_stage(job.job_id, Stage.PREPARING)
            original = self.services.storage.get(request.original_key)
            prepared = imaging.prepare_input(
                original,
                long_side=request.long_side,
                short_side=request.short_side,
                max_pixels=self.settings.max_image_pixels,
            )
            key = job_key(job.user_id, job.job_id, "input", "jpg")
            self.services.storage.put(key, prepared.data, content_type="image/jpeg")
            # Next the model step waits in the GPU queue; the row says so for queue positions.
            self.services.jobs.set_stage(job.job_id, Stage.WAITING_FOR_GPU)
        return PreparedInput(input_key=key, width=prepared.width, height=prepared.height)

    @activity.defn
    async def run_model(self, request: ModelRequest) -> ModelResult:
        """Run the model on RunPod exactly once per job, resuming what an earlier attempt started.

        The handler claims the job's current generation before any model work; a submission
        that finds the claim taken answers `duplicate_of` and this attempt follows the claimant.
        Async, so the minutes of GPU time hold no thread: RunPod calls go through the worker's
        poll scheduler, and only database and storage work borrows a thread briefly.
        """
        job = request.job
        with _reported():
            # The job holds a GPU slot from here: it leaves the queue positions' count. The
            # write runs beside the submission, which a free GPU is waiting for.
            marked = asyncio.ensure_future(
                asyncio.to_thread(self.services.jobs.set_stage, job.job_id, Stage.PROCESSING)
            )
            try:
                run = await self._resumable_runpod_job(request)
                if run.stored is not None:
                    return run.stored
                if run.runpod_job_id is None:
                    polled = await self._submit(request, run.generation)
                else:
                    polled = run.runpod_job_id
                    log.info("job %s resumes RunPod job %s", job.job_id, polled)
            finally:
                await marked
            try:
                state = await self._wait_for_end(job.job_id, polled)
                claimant = _duplicate_of(state)
                if claimant is not None:
                    await asyncio.to_thread(self._follow_claimant, request, run, state, claimant)
                    log.info("job %s follows the claimant RunPod job %s", job.job_id, claimant)
                    polled = claimant
                    state = await self._wait_for_end(job.job_id, polled)
            except asyncio.CancelledError:
                # Only the workflow's cancel stops the GPU job; a timed-out or abandoned
                # attempt leaves it running for the retry to resume.
                details = activity.cancellation_details()
                if details is not None and details.cancel_requested:
                    await self._cancel_gpu_job(job.job_id, polled)
                raise
            await asyncio.to_thread(self._record_attempt, request, run.generation, state)
            return await asyncio.to_thread(self._store_model_output, job, state)

    @activity.defn
    def postprocess(self, request: PostprocessRequest) -> PostprocessResult:
        """Resize, watermark for the free tier, and store result, thumbnail and before/after."""
        job = request.job
        storage = self.services.storage
        with _reported():
            self.services.jobs.set_stage(job.job_id, Stage.POSTPROCESSING)
            done = imaging.postprocess(
                storage.get(request.model_key),
                storage.get(request.input_key),
                long_side=request.long_side,
                short_side=request.short_side,
                watermark=request.watermark,
            )
            keys = {
                kind: job_key(job.user_id, job.job_id, kind, "jpg")
                for kind in ("result", "thumbnail", "comparison")
            }
            storage.put(keys["result"], done.result, content_type="image/jpeg")
            storage.put(keys["thumbnail"], done.thumbnail, content_type="image/jpeg")
            storage.put(keys["comparison"], done.comparison, content_type="image/jpeg")
        return PostprocessResult(
            result_key=keys["result"],
            thumbnail_key=keys["thumbnail"],
            comparison_key=keys["comparison"],
            width=done.width,
            height=done.height,
            stored_bytes=len(done.result) + len(done.thumbnail) + len(done.comparison),
        )

    @activity.defn
    def complete_job(self, request: CompleteRequest) -> None:
        result = request.result
        ended = self.services.jobs.complete(
            request.job_id,
            ResultKeys(
                input_key=request.input_key,
                result_key=result.result_key,
                thumbnail_key=result.thumbnail_key,
                comparison_key=result.comparison_key,
                width=result.width,
                height=result.height,
                stored_bytes=result.stored_bytes,
            ),
            keep_days=self.services.retention.keep_days(request.job_id),
        )
        if not ended:  # an earlier attempt's write ended it: make sure its expiry is set
            self.services.retention.stamp_expiry(request.job_id)

    @activity.defn
    def refund_credits(self, request: RefundRequest) -> int:
        """Refund what the job was charged; repeats refund nothing more."""
        return self.services.credits.refund(request.job_id, request.reason).amount

    @activity.defn
    def discard_outputs(self, job: JobRef) -> None:
        """Remove what a failed or cancelled job produced; the original stays for a retry.

        A completed job keeps its files: a cancel that reached the run while its completion
        (a local activity) had already committed must not take the result from a paid job.
        """
        row = self.services.jobs.find(job.job_id)
        if row is not None and row.status == JobStatus.COMPLETED:
            return
        if row is not None:
            stop_gpu_job(self.services.runpod, job.job_id, row.runpod_job_id)
        remove_partial_outputs(self.services.storage, job.user_id, job.job_id)

    @activity.defn
    def finish_job(self, request: FinishRequest) -> None:
        ended = self.services.jobs.finish_unsuccessfully(
            request.job_id,
            JobStatus(request.status),
            code=request.error_code,
            message=request.error_message,
            detail=request.error_detail,
            ended_by=request.ended_by,
            keep_days=self.services.retention.keep_days(request.job_id),
        )
        if not ended:  # as in complete_job
            self.services.retention.stamp_expiry(request.job_id)

    def _polls(self) -> PollScheduler:
        """This worker's poll scheduler (one per event loop, so per worker process)."""
        loop = asyncio.get_running_loop()
        scheduler = self._schedulers.get(loop)
        if scheduler is None:
            # Looked up per poll, so a test may swap the RunPod service under a running worker.
            scheduler = PollScheduler.from_settings(
                self.settings, lambda job_id: self.services.runpod.status_async(job_id)
            )
            self._schedulers[loop] = scheduler
        return scheduler

    async def _resumable_runpod_job(self, request: ModelRequest) -> _ModelRun:
        """Where this attempt starts: a live RunPod job to resume, a stored output, or a submit.

        A recorded RunPod job seen dead opens the next claim generation, so the new submission
        may run the model; one that merely lost its id keeps the generation and is a duplicate.
        """
        job = request.job
        if activity.info().attempt == 1:
            return _ModelRun(runpod_job_id=None, generation=0)
        runs = self.services.model_runs
        current = await asyncio.to_thread(runs.state, job.job_id)
        runpod_job_id = current.runpod_job_id
        if runpod_job_id is None:
            return _ModelRun(runpod_job_id=None, generation=current.generation)
        try:
            state = await self._polls().call(
                lambda: self.services.runpod.status_async(runpod_job_id), on_wait=_heartbeat
            )
        except ModelFailed:  # RunPod no longer knows the job (past its TTL)
            model_key = job_key(job.user_id, job.job_id, "model", "png")
            if await asyncio.to_thread(self.services.storage.exists, model_key):
                stored = ModelResult(model_key=model_key, runpod_job_id=runpod_job_id)
                return _ModelRun(runpod_job_id, current.generation, stored=stored)
        else:
            if state.status not in _DEAD_STATES:
                return _ModelRun(runpod_job_id=runpod_job_id, generation=current.generation)
            await asyncio.to_thread(self._record_attempt, request, current.generation, state)
        generation = await asyncio.to_thread(runs.next_generation, job.job_id, runpod_job_id)
        log.info(
            "job %s: RunPod job %s is dead, claim generation %d",
            job.job_id,
            runpod_job_id,
            generation,
        )
        return _ModelRun(runpod_job_id=None, generation=generation)

    async def _submit(self, request: ModelRequest, generation: int) -> str:
        """Submit, then make the RunPod id durable before anything polls it."""
        job = request.job
        payload = await asyncio.to_thread(self._transfer.payload, request, generation)
        runpod_job_id = await self._polls().call(
            lambda: self.services.runpod.submit_async(
                payload,
                execution_timeout_s=self.settings.runpod_execution_timeout_s,
                ttl_s=self.settings.runpod_ttl_s,
            ),
            on_wait=_heartbeat,
        )
        await asyncio.to_thread(
            self.services.jobs.set_stage, job.job_id, Stage.PROCESSING, runpod_job_id=runpod_job_id
        )
        return runpod_job_id

    async def _cancel_gpu_job(self, job_id: str, runpod_job_id: str) -> None:
        """Stop the RunPod job of a cancelled step; the compensation tries again if this fails
        or would wait out a long rate-limit pause."""
        try:
            async with asyncio.timeout(self.settings.runpod_request_timeout_s):
                await self._polls().call(lambda: self.services.runpod.cancel_async(runpod_job_id))
        except (HeirloomError, TimeoutError) as err:
            log.warning("job %s: cancelling RunPod job %s failed: %s", job_id, runpod_job_id, err)

    def _follow_claimant(
        self, request: ModelRequest, run: _ModelRun, duplicate: RunPodJobState, claimant: str
    ) -> None:
        """Record the duplicate with its GPU time and make the claimant the job's RunPod job."""
        self._record_attempt(request, run.generation, duplicate, duplicate_of=claimant)
        self.services.model_runs.record_runpod_job(request.job.job_id, claimant)

    def _record_attempt(
        self,
        request: ModelRequest,
        generation: int,
        state: RunPodJobState,
        *,
        duplicate_of: str | None = None,
    ) -> None:
        self.services.model_runs.record_attempt(
            AttemptRecord(
                job_id=request.job.job_id,
                attempt=activity.info().attempt,
                generation=generation,
                runpod_job_id=state.job_id,
                status=state.status,
                execution_ms=state.execution_time_ms,
                delay_ms=state.delay_time_ms,
                duplicate_of=duplicate_of,
            )
        )

    async def _wait_for_end(self, job_id: str, runpod_job_id: str) -> RunPodJobState:
        """Follow the RunPod job through the worker's poll scheduler until it ends.

        Heartbeats go with each poll's answer, and while the scheduler holds the next poll back
        (the budget, a 429's pause); a poll that hangs sends none, so the heartbeat timeout
        catches it.
        """
        progress = MODEL_PROGRESS_SPAN[0]
        failed_polls = 0
        beat = _heartbeat_every_s()
        async with self._polls().watch(runpod_job_id) as watch:
            activity.heartbeat(runpod_job_id, progress)
            while True:
                try:
                    state = await watch.next(beat)
                except ModelUnavailable:
                    # A failed status check is not a failed model call: the GPU job runs on.
                    # Only a provider that stays unreachable fails this attempt.
                    failed_polls += 1
                    if failed_polls > self.settings.runpod_status_error_limit:
                        raise
                    activity.heartbeat(runpod_job_id, progress)
                    continue
                if state is None:
                    if not watch.polling:
                        activity.heartbeat(runpod_job_id, progress)
                    continue
                failed_polls = 0
                if state.terminal:
                    return state
                progress = await self._forward_progress(job_id, state, progress)
                activity.heartbeat(runpod_job_id, progress)

    async def _forward_progress(self, job_id: str, state: RunPodJobState, shown: int) -> int:
        """Write the handler's reported progress to the job when it moved forward; the new
        figure goes out with the next heartbeat. Never backwards, even for a retried attempt.
        """
        if state.status != "IN_PROGRESS":
            return shown
        reported = model_progress(state.output)
        if reported is None or reported <= shown:
            return shown
        await asyncio.to_thread(self.services.jobs.set_progress, job_id, reported)
        return reported

    def _store_model_output(self, job: JobRef, state: RunPodJobState) -> ModelResult:
        attempt = activity.info().attempt
        key = job_key(job.user_id, job.job_id, "model", "png")
        output = state.output or {}
        # The handler wrote it to the key the worker presigned; only that key is trusted.
        if state.status == "COMPLETED" and output.get("output_key") == key:
            if not self.services.storage.exists(key):
                raise ModelFailed("The model's output is missing from storage.", attempt=attempt)
            return ModelResult(
                model_key=key, runpod_job_id=state.job_id, execution_time_ms=state.execution_time_ms
            )
        if state.status == "COMPLETED" and "image_base64" in output:
            image = base64.b64decode(output["image_base64"])
            self.services.storage.put(key, image, content_type="image/png")
            return ModelResult(
                model_key=key,
                runpod_job_id=state.job_id,
                execution_time_ms=state.execution_time_ms,
            )
        if state.status == "COMPLETED":
            raise ModelFailed("The model returned no image.", attempt=attempt)
        if state.status == "CANCELLED":
            raise ModelUnavailable("The RunPod job was cancelled by the provider.")
        error_type = ModelTimedOut if state.status == "TIMED_OUT" else ModelFailed
        error = error_type(error_type.default_message, runpod_error=state.error or state.status)
        # A model failure is retried once with a fresh RunPod job; twice is permanent.
        raise ApplicationError(
            error.message, error.to_dict(), type=error.code, non_retryable=attempt >= 2
        )
