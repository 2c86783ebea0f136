"""/v1/jobs: submit, read, list, cancel, retry, delete, and download originals and results."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Query, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from temporalio.client import (
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from heirloom.api.deps import CallerDep, CurrentUser, ServicesDep, TemporalDep
from heirloom.api.downloads import check_files_kept, file_response, job_file_key
from heirloom.api.schemas import JobList, JobOut
from heirloom.api.submissions import Submitter
from heirloom.domain.errors import (
    Conflict,
    ImageTooLarge,
    JobAlreadyFinished,
    ServiceUnavailable,
)
from heirloom.domain.jobs import JobStatus
from heirloom.services.storage import job_prefix
from heirloom.workflows.restoration import RestorationWorkflow

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

# Highest Temporal task priority: a retry overtakes queued first attempts.
RETRY_PRIORITY = 1


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
async def create_job(
    user: CurrentUser,
    services: ServicesDep,
    temporal: TemporalDep,
    file: Annotated[UploadFile, File(description="the photo: JPEG, PNG, WebP, TIFF or BMP")],
    operations: Annotated[str, Form(description="restore, colorize or restore,colorize")],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response | JobOut:
    """Charge for and start a job; 202 means charged, any 4xx means nothing charged."""
    limit = services.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLarge(f"The photo is larger than the {limit / 1e6:.0f} MB limit.")
    submission = await Submitter(services, temporal).submit(
        user, data=data, operations=operations, idempotency_key=idempotency_key
    )
    body = JobOut.from_job(submission.job)
    if not submission.created:
        return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_200_OK)
    return body


@router.get("", response_model=JobList)
def list_jobs(
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JobList:
    jobs = services.jobs.list_owned(user.id, limit=limit, offset=offset)
    return JobList(jobs=[JobOut.from_job(job) for job in jobs], limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, user: CurrentUser, services: ServicesDep) -> JobOut:
    return JobOut.from_job(services.jobs.get_owned(user.id, job_id))


@router.post("/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
async def cancel_job(
    job_id: str, user: CurrentUser, services: ServicesDep, temporal: TemporalDep
) -> JobOut:
    """Stop a queued or running job: 202 means it will end cancelled and refunded.

    409 once the job has ended or is past the point of no return (finalizing its result).
    """
    job = await run_in_threadpool(services.jobs.get_owned, user.id, job_id)
    if JobStatus(job.status).is_final:
        raise JobAlreadyFinished(f"The job is already {job.status} and cannot be cancelled.")
    await _cancel(temporal.get_workflow_handle(job_id), services, user.id, job_id)
    return JobOut.from_job(await run_in_threadpool(services.jobs.get_owned, user.id, job_id))


async def _cancel(
    handle: WorkflowHandle[Any, Any], services: ServicesDep, user_id: str, job_id: str
) -> None:
    """Ask a running job to stop through its `request_cancel` update, then Temporal's cancel."""
    try:
        # The update answers whether the cancel takes effect; the signal alone could not.
        async with asyncio.timeout(services.settings.submit_timeout_s):
            await handle.execute_update(RestorationWorkflow.request_cancel, "user")
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise ServiceUnavailable(
            "The job service did not answer in time; the job was not cancelled. Please retry."
        ) from None
    except (WorkflowUpdateFailedError, RPCError):
        # Refused (finalizing) or the run closed between our read and the update.
        job = await run_in_threadpool(services.jobs.get_owned, user_id, job_id)
        raise JobAlreadyFinished(
            f"The job is {job.status} and can no longer be cancelled."
        ) from None
    # The same cancel at Temporal's level, so the run closes as cancelled in the Web UI.
    with contextlib.suppress(RPCError):
        await handle.cancel()


@router.post("/{job_id}/retry", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
async def retry_job(
    job_id: str, user: CurrentUser, caller: CallerDep, services: ServicesDep, temporal: TemporalDep
) -> JobOut:
    """Run a failed job again as a new, newly charged job at the highest queue priority."""
    job = await run_in_threadpool(services.jobs.get_owned, user.id, job_id)
    check_files_kept(job)
    if job.status != JobStatus.FAILED:
        raise Conflict("Only failed jobs can be retried.")
    await run_in_threadpool(
        services.audit.record, caller, owner_id=user.id, action="retry", job_id=job_id
    )
    data = await run_in_threadpool(services.storage.get, job.original_key)
    submission = await Submitter(services, temporal).submit(
        user,
        data=data,
        operations=job.operations,
        idempotency_key=f"retry:{job.id}",
        retry_of=job.id,
        priority=RETRY_PRIORITY,
    )
    return JobOut.from_job(submission.job)


def _download(
    services: ServicesDep, caller: CallerDep, user_id: str, job_id: str, kind: str
) -> Response:
    job = services.jobs.get_owned(user_id, job_id)
    key = job_file_key(job, kind)
    services.audit.record(caller, owner_id=user_id, action=kind, job_id=job_id)
    ext = key.rpartition(".")[2]
    return file_response(services, key, filename=f"{job_id}-{kind}.{ext}")


@router.get("/{job_id}/original", response_class=Response)
def get_original(
    job_id: str, user: CurrentUser, caller: CallerDep, services: ServicesDep
) -> Response:
    """The photo as uploaded (owner only), kept as long as the job's results."""
    return _download(services, caller, user.id, job_id, "original")


@router.get("/{job_id}/result", response_class=Response)
def get_result(
    job_id: str, user: CurrentUser, caller: CallerDep, services: ServicesDep
) -> Response:
    """The restored photo (owner only; anyone else gets 404)."""
    return _download(services, caller, user.id, job_id, "result")


@router.get("/{job_id}/thumbnail", response_class=Response)
def get_thumbnail(
    job_id: str, user: CurrentUser, caller: CallerDep, services: ServicesDep
) -> Response:
    return _download(services, caller, user.id, job_id, "thumbnail")


@router.get("/{job_id}/comparison", response_class=Response)
def get_comparison(
    job_id: str, user: CurrentUser, caller: CallerDep, services: ServicesDep
) -> Response:
    """Before and after, side by side."""
    return _download(services, caller, user.id, job_id, "comparison")


@router.delete("/{job_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_job(
    job_id: str, user: CurrentUser, caller: CallerDep, services: ServicesDep, temporal: TemporalDep
) -> Response:
    """Delete a job's files (cancelling it first if it runs); the money record stays."""
    job = await run_in_threadpool(services.jobs.get_owned, user.id, job_id)
    if not JobStatus(job.status).is_final:
        handle = temporal.get_workflow_handle(job_id)
        with contextlib.suppress(JobAlreadyFinished):
            await _cancel(handle, services, user.id, job_id)
        try:
            # The run ends after its compensation (refund, partial outputs removed).
            async with asyncio.timeout(services.settings.submit_timeout_s):
                await handle.result()
        except (WorkflowFailureError, RPCError):
            pass  # a cancelled or failed run has ended all the same
        except TimeoutError:
            raise ServiceUnavailable(
                "The job is still being cancelled; nothing was deleted yet. Please retry."
            ) from None
    await run_in_threadpool(
        services.audit.record, caller, owner_id=user.id, action="delete", job_id=job_id
    )
    await run_in_threadpool(services.storage.delete_prefix, job_prefix(user.id, job_id))
    await run_in_threadpool(services.jobs.mark_deleted, job_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
