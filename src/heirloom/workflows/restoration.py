"""RestorationWorkflow: one photo job from charge to result, or to a refund."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import Priority
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from heirloom.activities.restoration import RestorationActivities
    from heirloom.domain.candidates import candidate_record
    from heirloom.domain.errors import (
        ERRORS_BY_CODE,
        JobAlreadyFinished,
        JobCancelled,
        QualityRejected,
        message_for,
        public_message,
    )
    from heirloom.domain.gpu_queue import model_step_priority
    from heirloom.domain.jobs import CANCEL_SIGNAL, EndedBy, JobStatus, Stage
    from heirloom.domain.messages import (
        CompleteRequest,
        FinishRequest,
        JobOutcome,
        JobProgress,
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
    from heirloom.domain.quality import (
        GateDecision,
        Outcome,
        TryReport,
        decide,
        quality_record,
    )
    from heirloom.domain.seeds import try_seed
    from heirloom.domain.task_queues import GPU_TASK_QUEUE
    from heirloom.temporal import search_attributes
    from heirloom.workflows.retry import DB_RETRY, IMAGE_RETRY, MUST_LAND_RETRY, model_retry

T = TypeVar("T")

# The reservation's own failure code: nothing may have been charged, or a charge is undone.
UNRESERVED = "service_unavailable"

# A cancelled step gets to clean up (the model step cancels its RunPod job) before the
# workflow refunds and ends.
WAIT_FOR_CLEANUP = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED


class _CancelRequested(Exception):
    """Raised inside the workflow when the cancel signal stops the pipeline."""


class _QualityRejected(Exception):
    """Raised when no model output passed the quality gate's sanity and structure checks."""


@workflow.defn
class RestorationWorkflow:
    """Reserve credits, prepare, run the model, post-process, complete; refund if it fails.

    Every ending is settled: the cancel signal, a Temporal cancel and every failure refund once,
    drop partial outputs and record why, and the run closes as the job ended.
    """

    @workflow.init
    def __init__(self, job: RestorationInput) -> None:
        self._job = job
        self._ref = JobRef(job_id=job.job_id, user_id=job.user_id, operations=job.operations)
        self._reservation: ReserveResult | None = None
        self._reserving = False
        self._status: str = JobStatus.QUEUED.value
        self._stage = Stage.RESERVING
        self._cancel_requested = False
        self._cancel_reason = ""
        self._temporal_cancel = False
        self._runpod_job_id: str | None = None
        self._ending: tuple[str, str] | None = None
        self._quality: dict[str, Any] | None = None

    @workflow.run
    async def run(self, job: RestorationInput) -> JobOutcome:
        """The job to its end; a Temporal cancel (Web UI, CLI) ends it as the cancel signal
        does, and nothing interrupts a step, the completion or the compensation."""
        outcome = await self._uncancellable(self._process(job))
        return self._close(outcome)

    async def _process(self, job: RestorationInput) -> JobOutcome:
        """Charged (or refused), then each step in turn; a cancel or a failed step is
        compensated."""
        if job.album_id is not None:
            # Charged with its album before this run started: the reservation finds that
            # charge (the ledger's unique key), no API sends the update.
            await self._reserve()
        reservation = await self._reserved()
        if not reservation.accepted:
            return await self._refused(reservation)
        self._stage = Stage.QUEUED
        try:
            prepared = await self._prepare(job)
            candidates = None
            if job.candidates > 1:
                result, candidates = await self._candidates(job, prepared)
                made_by = candidates[0]["provenance"]
            else:
                model = await self._checked_model(job, prepared)
                result = await self._postprocess(job, prepared, model)
                made_by = model.provenance
            outcome = await self._complete(job, prepared, result, made_by, candidates)
        except _CancelRequested:
            outcome = await self._give_up(
                JobStatus.CANCELLED, JobCancelled.code, JobCancelled.default_message
            )
        except ActivityError as err:
            code, message, detail = _describe(err)
            # A model run that stopped itself because its claim was withdrawn ends the job
            # cancelled, not failed (services/runpod/model_step.py).
            status = JobStatus.CANCELLED if code == JobCancelled.code else JobStatus.FAILED
            outcome = await self._give_up(status, code, message, detail)
        except _QualityRejected as err:
            outcome = await self._give_up(
                JobStatus.FAILED, QualityRejected.code, QualityRejected.default_message, str(err)
            )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    # --- messages: the charge, the cancel, the progress -----------------------------------

    @workflow.update
    async def reserve(self) -> ReserveResult:
        """Charge for the job; update-with-start lets the API answer from this result.

        A local activity: a short database step must not queue behind model calls for activity
        slots (bench/overhead.py: accept 103 -> 62 ms; with 2 s of model time POST /v1/jobs
        went from 5.7 s to 47 ms p50)."""
        return await self._reserve()

    async def _reserve(self) -> ReserveResult:
        """Charge once, however many ask (the update, or an album's photo run itself)."""
        if self._reservation is None and not self._reserving:
            self._reserving = True
            try:
                self._reservation = await workflow.execute_local_activity_method(
                    RestorationActivities.reserve_credits,
                    self._job,
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=DB_RETRY,
                )
            except (ActivityError, ApplicationError, TimeoutError):
                # The database stayed away through every retry: refuse, so the API answers
                # 503 and the run can end (undoing a charge that may have landed unseen). A
                # local activity's last failure arrives as the activity's own error, not
                # wrapped in an ActivityError: without it the update failed and the run
                # waited for a reservation for ever.
                self._reservation = ReserveResult(
                    accepted=False,
                    error_code=UNRESERVED,
                    error_message=message_for(UNRESERVED),
                )
        return await self._reserved()

    @workflow.signal(name=CANCEL_SIGNAL)
    def cancel(self, reason: str) -> None:
        """Ask the job to stop; it refunds and ends cancelled unless it already finished."""
        self._request_cancel(reason)

    @workflow.update
    def request_cancel(self, origin: str) -> JobProgress:
        """The cancel signal with an answer: accepted only while the cancel can take effect."""
        self._request_cancel(origin)
        return self.progress()

    @request_cancel.validator
    def _cancel_applies(self, origin: str) -> None:
        if not self._cancellable():
            # Refused before it reaches history: the job completes (or has ended) as it was.
            raise ApplicationError(JobAlreadyFinished.default_message, type=JobAlreadyFinished.code)

    def _cancellable(self) -> bool:
        if self._stage in (Stage.FINALIZING, Stage.DONE):
            return False
        return self._reservation is None or self._reservation.accepted

    def _request_cancel(self, origin: str) -> None:
        if self._cancellable() and not self._cancel_requested:
            self._cancel_requested = True
            self._cancel_reason = origin
            self._show_details()

    @workflow.query
    def progress(self) -> JobProgress:
        return JobProgress(
            status=self._status,
            stage=self._stage.value,
            progress=self._stage.progress,
            cancel_requested=self._cancel_requested,
        )

    async def _reserved(self) -> ReserveResult:
        """The reservation, once the reserve update (sent with the start) has answered."""
        await workflow.wait_condition(lambda: self._reservation is not None)
        assert self._reservation is not None
        return self._reservation

    # --- the steps ------------------------------------------------------------------------

    async def _step(self, stage: Stage, handle: workflow.ActivityHandle[T]) -> T:
        """Await one activity, cancelling it (and waiting for its clean-up) on a cancel signal."""
        self._stage = stage
        if self._status == JobStatus.QUEUED:
            self._set_status(JobStatus.RUNNING)
        else:
            self._show_details()
        await workflow.wait_condition(lambda: handle.done() or self._cancel_requested)
        if not handle.done():
            handle.cancel()
        try:
            result = await handle
        except ActivityError as err:
            if self._cancel_requested and isinstance(err.cause, CancelledError):
                raise _CancelRequested() from err
            raise
        except asyncio.CancelledError as err:
            raise _CancelRequested() from err
        if self._cancel_requested:
            raise _CancelRequested()
        return result

    async def _prepare(self, job: RestorationInput) -> PreparedInput:
        rules = job.rules
        return await self._step(
            Stage.PREPARING,
            workflow.start_activity_method(
                RestorationActivities.prepare_input,
                PrepareRequest(
                    self._ref, job.original_key, rules.output_long_side, rules.output_short_side
                ),
                start_to_close_timeout=timedelta(seconds=rules.activity_timeout_s),
                retry_policy=IMAGE_RETRY,
                cancellation_type=WAIT_FOR_CLEANUP,
            ),
        )

    async def _checked_model(self, job: RestorationInput, prepared: PreparedInput) -> ModelResult:
        """The model output the quality gate keeps (domain/quality.py): a failed check runs the
        model once more with a new seed, not charged again, within the tier's model attempts."""
        outputs: list[ModelResult] = []
        reports: list[TryReport] = []
        attempts_left = job.rules.model_attempts
        while True:
            model = await self._run_model(job, prepared, len(outputs) + 1, attempts_left)
            attempts_left -= model.attempt
            outputs.append(model)
            reports.append(await self._check_quality(prepared, model))
            decision = decide(reports, model_attempts_left=attempts_left)
            if decision.outcome is not Outcome.RETRY:
                break
        self._quality = quality_record(reports, decision)
        if decision.kept is None:
            reasons = ", ".join(f"try {n}: {r.reason}" for n, r in enumerate(reports, 1))
            raise _QualityRejected(f"quality gate rejected every output ({reasons})")
        return outputs[decision.kept]

    async def _candidates(
        self, job: RestorationInput, prepared: PreparedInput
    ) -> tuple[PostprocessResult, list[dict[str, Any]]]:
        """Run the model once per candidate, each with its own seed and claim generation (the
        model step's exactly-once holds per candidate), one after another; each usable output
        is post-processed into its own files. The first kept one is the result until the owner
        chooses (POST /v1/jobs/{id}/choose); no usable output fails the job, refunded."""
        outputs: list[ModelResult] = []
        reports: list[TryReport] = []
        for number in range(1, job.candidates + 1):
            model = await self._run_model(job, prepared, number, job.rules.model_attempts)
            outputs.append(model)
            reports.append(await self._check_quality(prepared, model))
        kept = [index for index, report in enumerate(reports) if report.usable]
        if not kept:
            self._quality = quality_record(reports, GateDecision(Outcome.REJECT))
            reasons = ", ".join(f"candidate {n}: {r.reason}" for n, r in enumerate(reports, 1))
            raise _QualityRejected(f"quality gate rejected every candidate ({reasons})")
        first = reports[kept[0]]
        self._quality = quality_record(
            reports,
            GateDecision(Outcome.ACCEPT if first.passed else Outcome.ACCEPT_FLAGGED, kept[0]),
        )
        records: list[dict[str, Any]] = []
        results: list[PostprocessResult] = []
        for index in kept:
            number = index + 1
            result = await self._postprocess(job, prepared, outputs[index], candidate=number)
            results.append(result)
            records.append(
                candidate_record(
                    number,
                    result,
                    seed=try_seed(job.seed, job.job_id, number),
                    provenance=outputs[index].provenance,
                    verdict="passed" if reports[index].passed else "flagged",
                )
            )
        stored = sum(result.stored_bytes for result in results)
        return dataclasses.replace(results[0], stored_bytes=stored), records

    async def _run_model(
        self, job: RestorationInput, prepared: PreparedInput, model_try: int, attempts: int
    ) -> ModelResult:
        """On the GPU queue at the job's priority, fair across users (domain/gpu_queue.py)."""
        rules = job.rules
        model = await self._step(
            Stage.PROCESSING,
            workflow.start_activity_method(
                RestorationActivities.run_model,
                ModelRequest(
                    self._ref,
                    prepared.input_key,
                    seed=try_seed(job.seed, job.job_id, model_try),
                    model_try=model_try,
                    tier=job.tier,
                ),
                task_queue=GPU_TASK_QUEUE if rules.gpu_queue else None,
                priority=self._gpu_priority(job),
                start_to_close_timeout=timedelta(seconds=rules.model_timeout_s),
                heartbeat_timeout=timedelta(seconds=rules.model_heartbeat_timeout_s),
                retry_policy=model_retry(attempts),
                cancellation_type=WAIT_FOR_CLEANUP,
            ),
        )
        self._runpod_job_id = model.runpod_job_id
        return model

    async def _check_quality(self, prepared: PreparedInput, model: ModelResult) -> TryReport:
        """The quality gate on the worker's CPU, before anything is derived from the output."""
        return await self._step(
            Stage.PROCESSING,
            workflow.start_activity_method(
                RestorationActivities.check_quality,
                QualityRequest(self._ref, prepared.input_key, model.model_key),
                start_to_close_timeout=timedelta(seconds=self._job.rules.activity_timeout_s),
                retry_policy=IMAGE_RETRY,
                cancellation_type=WAIT_FOR_CLEANUP,
            ),
        )

    async def _postprocess(
        self,
        job: RestorationInput,
        prepared: PreparedInput,
        model: ModelResult,
        *,
        candidate: int = 0,
    ) -> PostprocessResult:
        rules = job.rules
        return await self._step(
            Stage.POSTPROCESSING,
            workflow.start_activity_method(
                RestorationActivities.postprocess,
                PostprocessRequest(
                    self._ref,
                    prepared.input_key,
                    model.model_key,
                    rules.output_long_side,
                    rules.watermark,
                    rules.output_short_side,
                    candidate=candidate,
                ),
                start_to_close_timeout=timedelta(seconds=rules.activity_timeout_s),
                retry_policy=IMAGE_RETRY,
                cancellation_type=WAIT_FOR_CLEANUP,
            ),
        )

    async def _complete(
        self,
        job: RestorationInput,
        prepared: PreparedInput,
        result: PostprocessResult,
        provenance: dict[str, Any] | None,
        candidates: list[dict[str, Any]] | None,
    ) -> JobOutcome:
        """Record the result; a local activity, as the reservation is."""
        # Past this point the job is done: a late cancel no longer applies.
        self._stage = Stage.FINALIZING
        await workflow.execute_local_activity_method(
            RestorationActivities.complete_job,
            CompleteRequest(
                job.job_id,
                prepared.input_key,
                result,
                quality=self._quality,
                candidates=candidates,
                provenance=provenance,
            ),
            start_to_close_timeout=timedelta(seconds=job.rules.activity_timeout_s),
            retry_policy=MUST_LAND_RETRY,
        )
        self._stage = Stage.DONE
        self._set_status(JobStatus.COMPLETED)
        return JobOutcome(status=JobStatus.COMPLETED.value, cost=self._cost)

    # --- the endings ----------------------------------------------------------------------

    @property
    def _cost(self) -> int:
        return self._reservation.cost if self._reservation is not None else 0

    async def _refused(self, reservation: ReserveResult) -> JobOutcome:
        """A refused job ends rejected; one the database never answered is settled first."""
        if reservation.error_code == UNRESERVED:
            await self._give_up(JobStatus.FAILED, UNRESERVED, message_for(UNRESERVED))
        self._set_status("rejected")
        return JobOutcome(
            status="rejected",
            error_code=reservation.error_code,
            error_message=reservation.error_message,
        )

    async def _give_up(
        self, status: JobStatus, code: str, message: str, detail: str = ""
    ) -> JobOutcome:
        """Compensate: refund once, drop partial outputs, record why the job ended."""
        refunded = await workflow.execute_activity_method(
            RestorationActivities.refund_credits,
            RefundRequest(
                self._job.job_id,
                self._refund_reason(status, code),
                owner_cancelled=self._owner_cancelled(status),
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=MUST_LAND_RETRY,
        )
        await workflow.execute_activity_method(
            RestorationActivities.discard_outputs,
            self._ref,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=MUST_LAND_RETRY,
        )
        await workflow.execute_activity_method(
            RestorationActivities.finish_job,
            FinishRequest(
                self._job.job_id,
                status.value,
                code,
                message,
                error_detail=detail,
                ended_by=(self._cancel_reason or EndedBy.SYSTEM)
                if status is JobStatus.CANCELLED
                else EndedBy.SYSTEM,
                quality=self._quality,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=MUST_LAND_RETRY,
        )
        self._stage = Stage.DONE
        self._ending = (code, message)
        self._set_status(status)
        return JobOutcome(
            status=status.value,
            cost=self._cost,
            refunded=refunded,
            error_code=code,
            error_message=message,
        )

    # --- plumbing -------------------------------------------------------------------------

    def _gpu_priority(self, job: RestorationInput) -> Priority:
        """The model step's place in the GPU queue: retries of failed jobs first, then by tier,
        fair across users; none when the model step runs on the tier's queue."""
        if not job.rules.gpu_queue:
            return Priority.default
        priority = model_step_priority(job.rules.gpu_priority, is_retry=job.priority_retry)
        return Priority(priority_key=priority, fairness_key=job.user_id)

    async def _uncancellable(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` to its end; a Temporal cancel request becomes the job's own cancel.

        The work runs in its own task, so the request never interrupts a step, the completion
        or the compensation: it only sets the flag the steps already watch.
        """
        task = asyncio.ensure_future(work)
        while not task.done():
            try:
                await workflow.wait([task])
            except asyncio.CancelledError:
                # Python 3.11+ counts cancellations: clear it so the next wait waits.
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                self._temporal_cancel = True
                self._request_cancel(EndedBy.OPERATOR)
        return task.result()

    def _close(self, outcome: JobOutcome) -> JobOutcome:
        """End the run as the job ended, once its compensation has refunded and recorded why:
        a failed job as a failed run whose failure type is the error code, a job cancelled
        through Temporal as a cancelled run."""
        if outcome.status == JobStatus.FAILED:
            raise ApplicationError(
                outcome.error_message or message_for(outcome.error_code or ""),
                {"refunded": outcome.refunded},
                type=outcome.error_code,
                non_retryable=True,
            )
        if outcome.status == JobStatus.CANCELLED and self._temporal_cancel:
            raise asyncio.CancelledError()
        return outcome

    def _owner_cancelled(self, status: JobStatus) -> bool:
        """The owner ended the job: past the model's start, the stated part is kept."""
        return status is JobStatus.CANCELLED and self._cancel_reason == EndedBy.USER

    def _refund_reason(self, status: JobStatus, code: str) -> str:
        """The ledger's words for a refund: who cancelled, or which error ended the job."""
        if status is JobStatus.CANCELLED:
            return f"job {self._job.job_id} cancelled by {self._cancel_reason or 'request'}"
        return f"job {self._job.job_id} {status.value}: {code}"

    def _set_status(self, status: str) -> None:
        self._status = str(status)
        workflow.upsert_search_attributes([search_attributes.JOB_STATUS.value_set(self._status)])
        self._show_details()

    def _show_details(self) -> None:
        """What the Temporal Web UI shows as the run's current details."""
        lines = [
            f"**{self._status}** - {self._stage.value} ({self._stage.progress}%)",
            f"user {self._job.user_id} - {self._job.tier} - {self._job.operations}",
        ]
        if self._runpod_job_id:
            lines.append(f"RunPod job {self._runpod_job_id}")
        if self._cancel_requested:
            lines.append(f"cancel requested by {self._cancel_reason}")
        if self._ending is not None:
            code, message = self._ending
            lines.append(f"error `{code}`: {message}")
        workflow.set_current_details("\n\n".join(lines))


def _describe(err: ActivityError) -> tuple[str, str, str]:
    """The error code, the user's plain message and the operator's detail of a failed step."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type in ERRORS_BY_CODE:
        detail = " ".join([cause.message, *(str(d) for d in cause.details)])
        return cause.type, public_message(cause.type, cause.message), detail
    if isinstance(cause, TimeoutError):
        detail = f"{err.activity_type} timed out ({cause.type.name if cause.type else 'timeout'})"
        return "model_timed_out", message_for("model_timed_out"), detail
    detail = f"{err.activity_type}: {cause}" if cause else str(err)
    return "internal_error", message_for("internal_error"), detail
