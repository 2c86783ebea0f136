"""/v1/jobs: submit, read, list, cancel, retry and download results."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Body, File, Form, Header, Query, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from heirloom.api.deps import CurrentUser, ServicesDep, TemporalDep
from heirloom.api.schemas import JobList, JobOut, RetryRequest
from heirloom.api.submissions import Submitter
from heirloom.db.models import Job, utcnow
from heirloom.domain.errors import (
    Conflict,
    ImageTooLarge,
    InvalidRequest,
    JobAlreadyFinished,
    ResultNotReady,
    ServiceUnavailable,
)
from heirloom.domain.gpu_queue import RETRY_PRIORITY
from heirloom.domain.jobs import JobStatus
from heirloom.domain.seeds import job_seed, retry_key, seed_origin
from heirloom.workflows.restoration import RestorationWorkflow

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

# Deeper pages than this are refused (422) rather than handed to the database to overflow.
MAX_OFFSET = 1_000_000


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
async def create_job(
    user: CurrentUser,
    services: ServicesDep,
    temporal: TemporalDep,
    file: Annotated[UploadFile, File(description="the photo: JPEG, PNG, WebP, TIFF or BMP")],
    operations: Annotated[str, Form(description="restore, colorize or restore,colorize")],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    callback_url: Annotated[
        str | None,
        Form(max_length=2000, description="this job's events also go here, signed"),
    ] = None,
) -> Response | JobOut:
    """Charge for and start a job; 202 means charged, any 4xx means nothing charged."""
    limit = services.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLarge(f"The photo is larger than the {limit / 1e6:.0f} MB limit.")
    if callback_url is not None:
        await run_in_threadpool(_check_callback, services, user.id, callback_url)
    submission = await Submitter(services, temporal).submit(
        user,
        data=data,
        operations=operations,
        idempotency_key=idempotency_key,
        callback_url=callback_url,
    )
    body = JobOut.from_job(submission.job)
    if not submission.created:
        return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_200_OK)
    return body


def _check_callback(services: ServicesDep, user_id: str, url: str) -> None:
    services.webhooks.check_callback(url)
    if not services.webhooks.has_secret(user_id):
        raise InvalidRequest(
            "A callback_url is signed with your webhook secret: create one first with "
            "PUT /v1/me/webhook (a URL is optional)."
        )


@router.get("", response_model=JobList)
def list_jobs(
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> JobList:
    jobs = services.jobs.list_owned(user.id, limit=limit, offset=offset)
    return JobList(jobs=[JobOut.from_job(job) for job in jobs], limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, user: CurrentUser, services: ServicesDep) -> JobOut:
    """The job; while it waits for a GPU, also its queue position and estimated times."""
    job = services.jobs.get_owned(user.id, job_id)
    return JobOut.from_job(job, services.gpu_queue.place(job, utcnow()))


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
    handle = temporal.get_workflow_handle(job_id)
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
        job = await run_in_threadpool(services.jobs.get_owned, user.id, job_id)
        raise JobAlreadyFinished(
            f"The job is {job.status} and can no longer be cancelled."
        ) from None
    # The same cancel at Temporal's level, so the run closes as cancelled in the Web UI.
    with contextlib.suppress(RPCError):
        await handle.cancel()
    return JobOut.from_job(await run_in_threadpool(services.jobs.get_owned, user.id, job_id))


@router.post("/{job_id}/retry", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
async def retry_job(
    job_id: str,
    user: CurrentUser,
    services: ServicesDep,
    temporal: TemporalDep,
    body: Annotated[RetryRequest | None, Body()] = None,
) -> JobOut:
    """Run a job again as a new, newly charged job at the highest queue priority.

    A failed job is retried with its original seed, so the model draws the same picture;
    `{"new_seed": true}` draws another one, and may also retry a completed job.
    """
    new_seed = body is not None and body.new_seed
    job = await run_in_threadpool(services.jobs.get_owned, user.id, job_id)
    if new_seed and job.status not in (JobStatus.FAILED, JobStatus.COMPLETED):
        raise Conflict("Only failed or completed jobs can be retried with a new seed.")
    if not new_seed and job.status != JobStatus.FAILED:
        raise Conflict(
            'Only failed jobs can be retried; {"new_seed": true} also retries a completed one.'
        )
    data = await run_in_threadpool(services.storage.get, job.original_key)
    # A new-seed retry is its own seed origin: the submission derives its seed from its id.
    seed = None if new_seed else job_seed(await run_in_threadpool(_seed_origin, services, job))
    submission = await Submitter(services, temporal).submit(
        user,
        data=data,
        operations=job.operations,
        idempotency_key=retry_key(job.id, new_seed=new_seed),
        retry_of=job.id,
        priority=RETRY_PRIORITY,
        seed=seed,
    )
    return JobOut.from_job(submission.job)


def _seed_origin(services: ServicesDep, job: Job) -> str:
    return seed_origin(job, services.jobs.get)


def _download(services: ServicesDep, user_id: str, job_id: str, kind: str) -> StreamingResponse:
    job = services.jobs.get_owned(user_id, job_id)
    key = {
        "result": job.result_key,
        "thumbnail": job.thumbnail_key,
        "comparison": job.comparison_key,
    }[kind]
    if job.status != JobStatus.COMPLETED or key is None:
        raise ResultNotReady(f"The job is {job.status}; its {kind} is not available.")
    return StreamingResponse(
        services.storage.iter_chunks(key),
        media_type="image/jpeg",
        headers={
            "Content-Length": str(services.storage.size(key)),
            "Content-Disposition": f'inline; filename="{job_id}-{kind}.jpg"',
            "Cache-Control": "private, max-age=3600",
        },
    )


@router.get("/{job_id}/result", response_class=StreamingResponse)
def get_result(job_id: str, user: CurrentUser, services: ServicesDep) -> StreamingResponse:
    """The restored photo (owner only; anyone else gets 404)."""
    return _download(services, user.id, job_id, "result")


@router.get("/{job_id}/thumbnail", response_class=StreamingResponse)
def get_thumbnail(job_id: str, user: CurrentUser, services: ServicesDep) -> StreamingResponse:
    return _download(services, user.id, job_id, "thumbnail")


@router.get("/{job_id}/comparison", response_class=StreamingResponse)
def get_comparison(job_id: str, user: CurrentUser, services: ServicesDep) -> StreamingResponse:
    """Before and after, side by side."""
    return _download(services, user.id, job_id, "comparison")
