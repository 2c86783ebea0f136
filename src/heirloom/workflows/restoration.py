"""RestorationWorkflow: one photo job from charge to result, or to a refund."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from heirloom.activities.restoration import RestorationActivities
    from heirloom.domain.errors import NON_RETRYABLE_CODES, JobCancelled, message_for
    from heirloom.domain.jobs import JobStatus, Stage
    from heirloom.domain.messages import (
        CompleteRequest,
        FinishRequest,
        JobOutcome,
        JobProgress,
        JobRef,
        ModelRequest,
        PostprocessRequest,
        PrepareRequest,
        RefundRequest,
        ReserveResult,
        RestorationInput,
    )
    from heirloom.workflows import search_attributes

T = TypeVar("T")

# Short database steps: retried quickly, a handful of times.
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=5,
    non_retryable_error_types=list(NON_RETRYABLE_CODES),
)
# Money and final state must land, however long the database is away.
MUST_LAND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,
    non_retryable_error_types=list(NON_RETRYABLE_CODES),
)
IMAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
    non_retryable_error_types=list(NON_RETRYABLE_CODES),
)
# Reserve and complete run as local activities: short database steps that must not queue
# behind model calls for activity slots (bench/overhead.py: accept 103 -> 62 ms; with 2 s of
# model time POST /v1/jobs went from 5.7 s to 47 ms p50). Runs started before keep the old path.
LOCAL_DB_STEPS = "local-db-steps"

# The reservation's own failure code: nothing may have been charged, or a charge is undone.
UNRESERVED = "service_unavailable"

# A cancelled step gets to clean up (the model step cancels its RunPod job) before the
# workflow refunds and ends.
WAIT_FOR_CLEANUP = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED


class _CancelRequested(Exception):
    """Raised inside the workflow when the cancel signal stops the pipeline."""


@workflow.defn
class RestorationWorkflow:
    """Reserve credits, prepare, run the model, post-process, finish; refund if it fails."""

    @workflow.init
    def __init__(self, job: RestorationInput) -> None:
        self._job = job
        self._reservation: ReserveResult | None = None
        self._reserving = False
        self._status: str = JobStatus.QUEUED.value
        self._stage = Stage.RESERVING
        self._cancel_requested = False
        self._cancel_reason = ""

    @workflow.run
    async def run(self, job: RestorationInput) -> JobOutcome:
        await workflow.wait_condition(lambda: self._reservation is not None)
        assert self._reservation is not None
        if not self._reservation.accepted:
            if self._reservation.error_code == UNRESERVED:
                await self._give_up(JobStatus.FAILED, UNRESERVED, message_for(UNRESERVED), 0)
            self._set_status("rejected")
            return JobOutcome(
                status="rejected",
                error_code=self._reservation.error_code,
                error_message=self._reservation.error_message,
            )
        cost = self._reservation.cost
        self._stage = Stage.QUEUED
        ref = JobRef(job_id=job.job_id, user_id=job.user_id, operations=job.operations)
        rules = job.rules
        step_timeout = timedelta(seconds=rules.activity_timeout_s)
        try:
            prepared = await self._step(
                Stage.PREPARING,
                workflow.start_activity_method(
                    RestorationActivities.prepare_input,
                    PrepareRequest(ref, job.original_key, rules.output_long_side),
                    start_to_close_timeout=step_timeout,
                    retry_policy=IMAGE_RETRY,
                    cancellation_type=WAIT_FOR_CLEANUP,
                ),
            )
            model = await self._step(
                Stage.PROCESSING,
                workflow.start_activity_method(
                    RestorationActivities.run_model,
                    ModelRequest(ref, prepared.input_key),
                    start_to_close_timeout=timedelta(seconds=rules.model_timeout_s),
                    heartbeat_timeout=timedelta(seconds=rules.model_heartbeat_timeout_s),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=1),
                        backoff_coefficient=2.0,
                        maximum_interval=timedelta(seconds=30),
                        maximum_attempts=rules.model_attempts,
                        non_retryable_error_types=list(NON_RETRYABLE_CODES),
                    ),
                    cancellation_type=WAIT_FOR_CLEANUP,
                ),
            )
            result = await self._step(
                Stage.POSTPROCESSING,
                workflow.start_activity_method(
                    RestorationActivities.postprocess,
                    PostprocessRequest(
                        ref,
                        prepared.input_key,
                        model.model_key,
                        rules.output_long_side,
                        rules.watermark,
                    ),
                    start_to_close_timeout=step_timeout,
                    retry_policy=IMAGE_RETRY,
                    cancellation_type=WAIT_FOR_CLEANUP,
                ),
            )
            # Past this point the job is done: a late cancel no longer applies.
            self._stage = Stage.FINALIZING
            complete = CompleteRequest(job.job_id, prepared.input_key, result)
            if workflow.patched(LOCAL_DB_STEPS):
                await workflow.execute_local_activity_method(
                    RestorationActivities.complete_job,
                    complete,
                    start_to_close_timeout=step_timeout,
                    retry_policy=MUST_LAND_RETRY,
                )
            else:
                await workflow.execute_activity_method(
                    RestorationActivities.complete_job,
                    complete,
                    start_to_close_timeout=step_timeout,
                    retry_policy=MUST_LAND_RETRY,
                )
        except _CancelRequested:
            outcome = await self._give_up(
                JobStatus.CANCELLED, JobCancelled.code, JobCancelled.default_message, cost
            )
        except ActivityError as err:
            code, message = _describe(err)
            outcome = await self._give_up(JobStatus.FAILED, code, message, cost)
        else:
            self._stage = Stage.DONE
            self._set_status(JobStatus.COMPLETED)
            outcome = JobOutcome(status=JobStatus.COMPLETED.value, cost=cost)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    @workflow.update
    async def reserve(self) -> ReserveResult:
        """Charge for the job; update-with-start lets the API answer from this result."""
        if self._reservation is None and not self._reserving:
            self._reserving = True
            try:
                if workflow.patched(LOCAL_DB_STEPS):
                    self._reservation = await workflow.execute_local_activity_method(
                        RestorationActivities.reserve_credits,
                        self._job,
                        start_to_close_timeout=timedelta(seconds=10),
                        retry_policy=DB_RETRY,
                    )
                else:
                    self._reservation = await workflow.execute_activity_method(
                        RestorationActivities.reserve_credits,
                        self._job,
                        start_to_close_timeout=timedelta(seconds=10),
                        retry_policy=DB_RETRY,
                    )
            except ActivityError:
                # The database stayed away through every retry: refuse, so the API answers
                # 503 and the run can end (undoing a charge that may have landed unseen).
                self._reservation = ReserveResult(
                    accepted=False,
                    error_code=UNRESERVED,
                    error_message=message_for(UNRESERVED),
                )
        await workflow.wait_condition(lambda: self._reservation is not None)
        assert self._reservation is not None
        return self._reservation

    @workflow.signal
    def cancel(self, reason: str) -> None:
        """Ask the job to stop; it refunds and ends cancelled unless it already finished."""
        if self._stage not in (Stage.FINALIZING, Stage.DONE):
            self._cancel_requested = True
            self._cancel_reason = reason

    @workflow.query
    def progress(self) -> JobProgress:
        return JobProgress(
            status=self._status,
            stage=self._stage.value,
            progress=self._stage.progress,
            cancel_requested=self._cancel_requested,
        )

    async def _step(self, stage: Stage, handle: workflow.ActivityHandle[T]) -> T:
        """Await one activity, cancelling it (and waiting for its clean-up) on a cancel signal."""
        self._stage = stage
        if self._status == JobStatus.QUEUED:
            self._set_status(JobStatus.RUNNING)
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

    async def _give_up(self, status: JobStatus, code: str, message: str, cost: int) -> JobOutcome:
        """Compensate: refund once, drop partial outputs, record why the job ended."""
        refunded = await workflow.execute_activity_method(
            RestorationActivities.refund_credits,
            RefundRequest(self._job.job_id, self._refund_reason(status, code)),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=MUST_LAND_RETRY,
        )
        await workflow.execute_activity_method(
            RestorationActivities.discard_outputs,
            JobRef(self._job.job_id, self._job.user_id, self._job.operations),
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=MUST_LAND_RETRY,
        )
        await workflow.execute_activity_method(
            RestorationActivities.finish_job,
            FinishRequest(self._job.job_id, status.value, code, message),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=MUST_LAND_RETRY,
        )
        self._stage = Stage.DONE
        self._set_status(status)
        return JobOutcome(
            status=status.value,
            cost=cost,
            refunded=refunded,
            error_code=code,
            error_message=message,
        )

    def _refund_reason(self, status: JobStatus, code: str) -> str:
        """The ledger's words for a refund: who cancelled, or which error ended the job."""
        if status is JobStatus.CANCELLED:
            return f"job {self._job.job_id} cancelled by {self._cancel_reason or 'request'}"
        return f"job {self._job.job_id} {status.value}: {code}"

    def _set_status(self, status: str) -> None:
        self._status = str(status)
        workflow.upsert_search_attributes([search_attributes.JOB_STATUS.value_set(self._status)])


def _describe(err: ActivityError) -> tuple[str, str]:
    """The error code and user message carried by a failed activity."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return cause.type, cause.message or message_for(cause.type)
    if isinstance(cause, TimeoutError):
        return "model_timed_out", message_for("model_timed_out")
    return "internal_error", message_for("internal_error")
