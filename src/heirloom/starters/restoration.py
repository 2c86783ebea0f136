"""Starting, cancelling and stopping restoration jobs.

A submission validates the upload, stores it and lets the workflow's reservation answer; a
cancel asks the run through its `request_cancel` update, which says whether it takes effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from dataclasses import dataclass

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    Priority,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError

from heirloom.db.models import Job, User
from heirloom.domain.errors import (
    HeirloomError,
    IdempotencyKeyReused,
    ImageTooLarge,
    InvalidRequest,
    JobAlreadyFinished,
    ServiceUnavailable,
)
from heirloom.domain.jobs import EndedBy, operations_label, parse_operations
from heirloom.domain.messages import JobRules, ReserveResult, RestorationInput
from heirloom.domain.seeds import job_seed
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.imaging import pipeline as imaging
from heirloom.services.storage.keys import job_key
from heirloom.starters.threads import blocking
from heirloom.temporal import search_attributes
from heirloom.temporal.task_queues import TemporalTaskQueues
from heirloom.workflows.restoration import RestorationWorkflow

log = logging.getLogger(__name__)

# Idempotent submissions derive the job id from (user, key, request): concurrent duplicates
# then meet on the same workflow id and the same ledger row instead of racing, while a
# different body under the same key gets its own job id, so its upload never overwrites the
# first one's original; the unique (user, key) on jobs then refuses its reservation.
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c8f0e-6a43-4d8e-9a57-2d1f0c7b9e11")


@dataclass(frozen=True)
class Submission:
    job: Job
    created: bool


class Submitter:
    """Turns an upload into a charged, running job, or into a refusal with nothing charged."""

    def __init__(self, services: Services, temporal: Client) -> None:
        self.services = services
        self.temporal = temporal
        self.settings = services.settings

    async def submit(
        self,
        user: User,
        *,
        data: bytes,
        operations: str,
        idempotency_key: str | None,
        retry_of: str | None = None,
        priority: int | None = None,
        callback_url: str | None = None,
        seed: int | None = None,
        priority_retry: bool = False,
        candidates: int = 1,
    ) -> Submission:
        """Charge for and start a job; without a `seed`, the job is its own seed origin."""
        tier = Tier(user.tier)
        standing = await blocking(self.services.admission.standing, user.id, tier, idempotency_key)
        try:
            ops = parse_operations(operations)
        except ValueError as err:
            raise InvalidRequest(str(err)) from None
        if len(data) > self.settings.max_upload_bytes:
            raise ImageTooLarge(
                f"The photo is {len(data) / 1e6:.1f} MB; the limit is "
                f"{self.settings.max_upload_bytes / 1e6:.0f} MB."
            )
        label = operations_label(ops)
        # Candidates count only when asked for, so earlier requests' hashes stay as they were.
        asked = f"candidates={candidates}\0".encode() if candidates != 1 else b""
        request_hash = hashlib.sha256(label.encode() + b"\0" + asked + data).hexdigest()
        if idempotency_key is not None:
            if not 1 <= len(idempotency_key) <= 200:
                raise InvalidRequest("Idempotency-Key must be 1 to 200 characters.")
            existing = standing.existing
            if existing is not None:
                if existing.request_hash != request_hash:
                    raise IdempotencyKeyReused()
                return Submission(job=existing, created=False)
        info = await blocking(imaging.probe_upload, data, max_pixels=self.settings.max_image_pixels)
        # Fast refusal before anything is stored; the reservation re-checks under a lock.
        quote = self.services.admission.check(
            standing, ops, candidates=candidates, incoming_bytes=len(data)
        )
        job_id = (
            uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{user.id}:{idempotency_key}:{request_hash}").hex
            if idempotency_key
            else uuid.uuid4().hex
        )
        if not await self._served(tier):
            raise ServiceUnavailable(
                "No worker is processing jobs for your plan right now; nothing was charged. "
                "Please retry in a minute.",
                retry_after=30,
            )
        original_key = job_key(user.id, job_id, "original", info.extension)
        await blocking(
            self.services.storage.put, original_key, data, content_type=f"image/{info.extension}"
        )
        result = await self._start(
            RestorationInput(
                job_id=job_id,
                user_id=user.id,
                tier=tier.value,
                operations=label,
                original_key=original_key,
                rules=self.rules(tier),
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                retry_of=retry_of,
                callback_url=callback_url,
                seed=job_seed(job_id) if seed is None else seed,
                submission_id=uuid.uuid4().hex,
                priority_retry=priority_retry,
                candidates=candidates,
                photo_metadata=info.metadata,
                original_bytes=len(data),
            ),
            priority=priority,
            summary=(
                f"{tier.value} - {label.replace(',', '+')} - {quote.cost} credits - "
                f"{f'{candidates} candidates - ' if candidates > 1 else ''}"
                f"{info.width}x{info.height} {info.format}"
            ),
        )
        if not result.accepted:
            await blocking(self.services.storage.delete, original_key)
            raise HeirloomError.from_code(
                result.error_code or "internal_error",
                result.error_message or "The job was refused.",
                result.error_details,
            )
        # The reservation wrote the row with the upload's metadata and size: a read, no write.
        return Submission(job=await blocking(self.services.jobs.get, job_id), created=True)

    async def _served(self, tier: Tier) -> bool:
        """Whether a worker polls the tier's queue; when Temporal cannot say, assume so and let
        the submit timeout decide."""
        try:
            return await TemporalTaskQueues(self.temporal).has_pollers(tier.task_queue)
        except RPCError:
            return True

    def rules(self, tier: Tier) -> JobRules:
        """The tier's rules as a job records them when it is submitted."""
        rules = self.settings.tier_rules[tier]
        return JobRules(
            output_long_side=rules.output_long_side,
            output_short_side=rules.output_short_side,
            watermark=rules.watermark,
            model_attempts=rules.model_attempts,
            activity_timeout_s=self.settings.activity_start_to_close_s,
            model_timeout_s=self.settings.model_start_to_close_s,
            model_heartbeat_timeout_s=self.settings.model_heartbeat_timeout_s,
            gpu_priority=rules.gpu_priority,
            gpu_queue=self.settings.gpu_queue_enabled,
        )

    async def _start(
        self, job: RestorationInput, *, priority: int | None, summary: str
    ) -> ReserveResult:
        """Start the run and wait for its reservation, at most `submit_timeout_s`.

        A running run with this id (a concurrent same-key submission) gets the update, so both
        name one job. A closed one may be followed by a new run: only a run that never charged
        leaves an id free (a refused reservation, or one this method stopped), since a charged
        job's key finds its row first and a reservation refuses a job that already ended.
        """
        start = WithStartWorkflowOperation(
            RestorationWorkflow.run,
            job,
            id=job.job_id,
            task_queue=Tier(job.tier).task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=summary,
            static_details=(
                f"job `{job.job_id}` of user `{job.user_id}`\n\n"
                f"tier **{job.tier}**, operations **{job.operations}**\n\n"
                f"output within {job.rules.output_long_side}x{job.rules.output_short_side} px, "
                f"watermark {'yes' if job.rules.watermark else 'no'}, "
                f"model attempts {job.rules.model_attempts}\n\n"
                f"original `{job.original_key}`"
                + (f"\n\nretry of `{job.retry_of}`" if job.retry_of else "")
            ),
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(search_attributes.USER_ID, job.user_id),
                    SearchAttributePair(search_attributes.TIER, job.tier),
                    SearchAttributePair(search_attributes.JOB_STATUS, "queued"),
                ]
            ),
            priority=Priority(priority_key=priority) if priority else Priority.default,
        )
        unavailable = ServiceUnavailable(
            "The job service is temporarily unavailable; please retry. Send an "
            "Idempotency-Key header so a retry can never create or charge a second job.",
            retry_after=5,
        )
        try:
            async with asyncio.timeout(self.settings.submit_timeout_s):
                return await self.temporal.execute_update_with_start_workflow(
                    RestorationWorkflow.reserve,
                    start_workflow_operation=start,
                    id=f"reserve-{job.job_id}",
                )
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            await self._withdraw(job, "no worker reserved the job within the submit timeout")
            raise unavailable from None
        except (RPCError, WorkflowUpdateFailedError) as err:
            # Temporal did not answer: the run may not exist, or may be a concurrent same-key
            # submission's, so it is left alone; only this submission's charge is refused.
            await self._withdraw(job, f"no answer from Temporal ({type(err).__name__})", stop=False)
            raise unavailable from err

    async def _withdraw(self, job: RestorationInput, why: str, *, stop: bool = True) -> None:
        """Give the submission up before answering 503, so the client never pays for it.

        The withdrawal is recorded first, in the database the reservation writes: a run that
        reserves later (a frozen worker waking up) is refused. A charge that landed before it
        is settled here, before the answer, unless an Idempotency-Key names the job: then the
        client's retry gets that job, charged once. Then the run is stopped.
        """
        log.warning("job %s: answering 503 (%s); withdrawing", job.job_id, why)
        assert job.submission_id is not None
        charged = await blocking(
            self.services.credits.withdraw, job.submission_id, job.job_id, job.user_id
        )
        if charged and job.idempotency_key is not None:
            return
        if stop:
            try:
                await self.temporal.get_workflow_handle(job.job_id).terminate(
                    reason=f"the API answered 503: {why}"
                )
            except RPCError as err:
                log.warning("job %s: terminate failed: %s", job.job_id, err)
        if charged:
            await blocking(
                self.services.settlement.settle_interrupted,
                job.job_id,
                detail=f"the API answered 503: {why}",
            )


async def cancel(temporal: Client, services: Services, user_id: str, job_id: str) -> None:
    """Ask a running job to stop through its `request_cancel` update, then Temporal's cancel.

    Raises JobAlreadyFinished when the run refuses (finalizing) or has closed, and
    ServiceUnavailable when Temporal does not answer within the submit timeout.
    """
    handle = temporal.get_workflow_handle(job_id)
    try:
        # The update answers whether the cancel takes effect; the signal alone could not.
        async with asyncio.timeout(services.settings.submit_timeout_s):
            await handle.execute_update(RestorationWorkflow.request_cancel, EndedBy.USER)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise ServiceUnavailable(
            "The job service did not answer in time; the job was not cancelled. Please retry."
        ) from None
    except (WorkflowUpdateFailedError, RPCError):
        # Refused (finalizing) or the run closed between our read and the update.
        job = await blocking(services.jobs.get_owned, user_id, job_id)
        raise JobAlreadyFinished(
            f"The job is {job.status} and can no longer be cancelled."
        ) from None
    # The same cancel at Temporal's level, so the run closes as cancelled in the Web UI.
    with contextlib.suppress(RPCError):
        await handle.cancel()


async def stop(temporal: Client, services: Services, user_id: str, job_id: str) -> None:
    """Cancel a job that may still run and wait for its run to end (refunded, partial outputs
    removed); a job that has already ended is left as it is."""
    with contextlib.suppress(JobAlreadyFinished):
        await cancel(temporal, services, user_id, job_id)
    try:
        # The run ends after its compensation (refund, partial outputs removed).
        async with asyncio.timeout(services.settings.submit_timeout_s):
            await temporal.get_workflow_handle(job_id).result()
    except (WorkflowFailureError, RPCError):
        pass  # a cancelled or failed run has ended all the same
    except TimeoutError:
        raise ServiceUnavailable(
            "The job is still being cancelled; nothing was deleted yet. Please retry."
        ) from None
