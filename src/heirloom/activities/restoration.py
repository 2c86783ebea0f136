"""The restoration activities. Each is idempotent: Temporal may run any of them again."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import activity
from temporalio.exceptions import ApplicationError

from heirloom.domain.errors import HeirloomError
from heirloom.domain.gpu_queue import model_step_priority
from heirloom.domain.jobs import JobStatus, Operation, Stage
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
    QualityRequest,
    RefundRequest,
    ReserveResult,
    RestorationInput,
)
from heirloom.domain.quality import TryReport
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.imaging import pipeline as imaging
from heirloom.services.jobs.settlement import remove_partial_outputs, stop_gpu_job
from heirloom.services.jobs.store import ResultKeys
from heirloom.services.money.credits import NewJob
from heirloom.services.quality.processes import GateProcesses
from heirloom.services.runpod.model_step import ModelStep, StepAttempt
from heirloom.services.runpod.pool import EndpointPools
from heirloom.services.runpod.transfer import ModelTransfer
from heirloom.services.storage.keys import candidate_key, job_key

# A model step heartbeats at least this often while it waits for RunPod (and at least three
# times per heartbeat timeout).
HEARTBEAT_EVERY_S = 1.0


def _heartbeat_every_s() -> float:
    timeout = activity.info().heartbeat_timeout
    if timeout is None:
        return HEARTBEAT_EVERY_S
    return min(HEARTBEAT_EVERY_S, timeout.total_seconds() / 3)


def _cancelled_by_workflow() -> bool:
    """Whether this attempt is cancelled because the workflow asked, not by a timeout or a
    worker shutting down."""
    details = activity.cancellation_details()
    return details is not None and details.cancel_requested


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

    def __init__(self, services: Services, gate: GateProcesses) -> None:
        self.services = services
        self.settings = services.settings
        self.gate = gate
        self._transfer = ModelTransfer(services.storage, services.settings)
        # Clients looked up per request, so a test may swap the RunPod service under a
        # running worker.
        self._pools = EndpointPools(
            services.settings, lambda endpoint: self.services.runpod_for(endpoint)
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
                        job.rules.gpu_priority, is_retry=job.priority_retry
                    ),
                    submission_id=job.submission_id,
                    candidates=job.candidates,
                    photo_metadata=job.photo_metadata,
                    original_bytes=job.original_bytes,
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
        """Decode, orient and shrink the original to the tier's size; store it as the input and
        record whether the photo looks black-and-white."""
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
            # The quality gate's half of the work that is the input's, done while the model runs.
            identity = not self._keeps_input_luminance(job.operations)
            self.gate.profile_soon(key, prepared.data, identity=identity)
            # Next the model step waits in the GPU queue; the row says so for queue positions.
            # The colour check (run here, on the shrunk copy: the API never decodes an upload)
            # is recorded by the same write.
            self.services.jobs.set_stage(
                job.job_id,
                Stage.WAITING_FOR_GPU,
                metadata={"black_and_white": prepared.black_and_white},
            )
        return PreparedInput(input_key=key, width=prepared.width, height=prepared.height)

    @activity.defn
    async def run_model(self, request: ModelRequest) -> ModelResult:
        """Run the model on RunPod exactly once per job, resuming what an earlier attempt
        started (services/runpod/model_step.py)."""
        attempt = StepAttempt(
            number=activity.info().attempt,
            heartbeat=activity.heartbeat,
            heartbeat_every_s=_heartbeat_every_s(),
            cancel_requested=_cancelled_by_workflow,
        )
        with _reported():
            result = await self._model_step().run(request, attempt)
        return dataclasses.replace(result, attempt=attempt.number)

    @activity.defn
    def check_quality(self, request: QualityRequest) -> TryReport:
        """Check a model output against the prepared input: sanity, structure, identity
        (services/quality/). Reads both by key; writes nothing, so a retry is harmless."""
        storage = self.services.storage
        with _reported():
            return self.gate.check(
                request.input_key,
                storage.get(request.input_key),
                storage.get(request.model_key),
                identity=not self._keeps_input_luminance(request.job.operations),
            )

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
                keep_input_luminance=self._keeps_input_luminance(job.operations),
            )
            keys = {
                kind: candidate_key(job.user_id, job.job_id, request.candidate, kind)
                if request.candidate
                else job_key(job.user_id, job.job_id, kind, "jpg")
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
            keep_days_by_tier=self.services.retention.days_by_tier(),
            quality=request.quality,
            candidates=request.candidates,
            provenance=request.provenance,
        )
        if not ended:  # an earlier attempt's write ended it: make sure its expiry is set
            self.services.retention.stamp_expiry(request.job_id)

    @activity.defn
    def refund_credits(self, request: RefundRequest) -> int:
        """Refund what the job was charged (less the kept part of an owner's late cancel);
        repeats refund nothing more."""
        return self.services.credits.refund(
            request.job_id, request.reason, owner_cancelled=request.owner_cancelled
        ).amount

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
            runpod = self.services.runpod_for(row.runpod_endpoint)
            stop_gpu_job(runpod, job.job_id, row.runpod_job_id)
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
            keep_days_by_tier=self.services.retention.days_by_tier(),
            quality=request.quality,
        )
        if not ended:  # as in complete_job
            self.services.retention.stamp_expiry(request.job_id)

    def _keeps_input_luminance(self, operations: str) -> bool:
        """Colourize-only work keeps the input's luminance (a setting): nothing to drift."""
        return self.settings.quality.keep_input_luminance and operations.split(",") == [
            Operation.COLORIZE.value
        ]

    @property
    def gpu_pools(self) -> EndpointPools:
        """This worker's GPU pools, one per event loop (the GPU queue's admission asks them)."""
        return self._pools

    def _model_step(self) -> ModelStep:
        """The model step over this worker's services and its event loop's GPU pool."""
        services = self.services
        pool = self._pools.current()
        return ModelStep(
            runpod=services.runpod,
            polls=pool.first.polls,
            pool=pool,
            runs=services.model_runs,
            jobs=services.jobs,
            storage=services.storage,
            transfer=self._transfer,
            settings=self.settings,
        )
