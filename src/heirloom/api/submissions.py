"""Submitting a job: validate the upload, store it, and let the workflow's reservation answer."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
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
    ServiceUnavailable,
)
from heirloom.domain.jobs import operations_label, parse_operations
from heirloom.domain.messages import JobRules, ReserveResult, RestorationInput
from heirloom.domain.seeds import job_seed
from heirloom.domain.tiers import Tier
from heirloom.services import imaging, photo_metadata
from heirloom.services.context import Services
from heirloom.services.health import tier_has_pollers
from heirloom.services.storage import job_key
from heirloom.workflows import search_attributes
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
    ) -> Submission:
        """Charge for and start a job; without a `seed`, the job is its own seed origin."""
        await run_in_threadpool(self.services.budgets.admit, Tier(user.tier))
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
        request_hash = hashlib.sha256(label.encode() + b"\0" + data).hexdigest()
        if idempotency_key is not None:
            if not 1 <= len(idempotency_key) <= 200:
                raise InvalidRequest("Idempotency-Key must be 1 to 200 characters.")
            existing = await run_in_threadpool(
                self.services.jobs.by_idempotency_key, user.id, idempotency_key
            )
            if existing is not None:
                if existing.request_hash != request_hash:
                    raise IdempotencyKeyReused()
                return Submission(job=existing, created=False)
        info = await run_in_threadpool(
            imaging.probe_upload, data, max_pixels=self.settings.max_image_pixels
        )
        # Fast refusal before anything is stored; the reservation re-checks under a lock.
        quote = await run_in_threadpool(self.services.credits.quote, user.id, label)
        await run_in_threadpool(
            self.services.retention.check_quota, user.id, Tier(user.tier), len(data)
        )
        metadata = await run_in_threadpool(photo_metadata.extract, data)

        job_id = (
            uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{user.id}:{idempotency_key}:{request_hash}").hex
            if idempotency_key
            else uuid.uuid4().hex
        )
        tier = Tier(user.tier)
        if not await self._served(tier):
            raise ServiceUnavailable(
                "No worker is processing jobs for your plan right now; nothing was charged. "
                "Please retry in a minute.",
                retry_after=30,
            )
        original_key = job_key(user.id, job_id, "original", info.extension)
        await run_in_threadpool(
            self.services.storage.put, original_key, data, content_type=f"image/{info.extension}"
        )
        result = await self._start(
            RestorationInput(
                job_id=job_id,
                user_id=user.id,
                tier=tier.value,
                operations=label,
                original_key=original_key,
                rules=self._rules(tier),
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                retry_of=retry_of,
                callback_url=callback_url,
                seed=job_seed(job_id) if seed is None else seed,
            ),
            priority=priority,
            summary=(
                f"{tier.value} - {label.replace(',', '+')} - {quote.cost} credits - "
                f"{info.width}x{info.height} {info.format}"
            ),
        )
        if not result.accepted:
            await run_in_threadpool(self.services.storage.delete, original_key)
            raise HeirloomError.from_code(
                result.error_code or "internal_error",
                result.error_message or "The job was refused.",
                result.error_details,
            )
        await run_in_threadpool(self.services.jobs.set_metadata, job_id, metadata, len(data))
        job = await run_in_threadpool(self.services.jobs.get, job_id)
        return Submission(job=job, created=True)

    async def _served(self, tier: Tier) -> bool:
        """Whether a worker polls the tier's queue; when Temporal cannot say, assume so and let
        the submit timeout decide."""
        if not self.settings.submit_checks_workers:
            return True
        try:
            return await tier_has_pollers(self.temporal, tier.task_queue)
        except RPCError:
            return True

    def _rules(self, tier: Tier) -> JobRules:
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
            await self._withdraw(job.job_id)
            raise unavailable from None
        except (RPCError, WorkflowUpdateFailedError) as err:
            raise unavailable from err

    async def _withdraw(self, job_id: str) -> None:
        """No worker answered in time: stop the run, and undo a charge that landed anyway.

        The client is told 503, so it must not pay for this job: a charge that commits after
        the check below is settled by the reconciliation schedule, since the run is closed.
        """
        log.warning("job %s: no reservation within the submit timeout; withdrawing", job_id)
        try:
            await self.temporal.get_workflow_handle(job_id).terminate(
                reason="no worker reserved the job within the submit timeout"
            )
        except RPCError as err:
            log.warning("job %s: terminate failed: %s", job_id, err)
        await run_in_threadpool(
            self.services.settlement.settle_interrupted,
            job_id,
            detail="the API answered 503: no worker reserved the job within the submit timeout",
        )
