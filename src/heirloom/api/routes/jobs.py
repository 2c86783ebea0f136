"""/v1/jobs: submit, read, list, cancel, retry, delete, and download originals and results."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, File, Form, Header, Path, Query, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from heirloom.api import paging
from heirloom.api.contract import errors
from heirloom.api.deps import CallerDep, CurrentUser, ServicesDep, TemporalDep, UploadBudget
from heirloom.api.downloads import check_files_kept, file_response, job_file_key
from heirloom.api.schemas import ChooseRequest, JobList, JobOut, RetryRequest
from heirloom.db.models import Job, utcnow
from heirloom.domain.candidates import find_candidate
from heirloom.domain.errors import (
    Conflict,
    ImageTooLarge,
    InvalidQuery,
    InvalidRequest,
    JobAlreadyFinished,
)
from heirloom.domain.gpu_queue import RETRY_PRIORITY
from heirloom.domain.jobs import OPERATION_FORMS, JobStatus
from heirloom.domain.seeds import job_seed, retry_key, seed_origin
from heirloom.services.imaging import pipeline as imaging
from heirloom.services.storage.keys import job_prefix
from heirloom.starters import restoration

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobId = Annotated[str, Path(min_length=1, max_length=64)]
# Deeper pages than this are refused (422) rather than handed to the database to overflow.
MAX_OFFSET = 1_000_000


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    responses=errors(402, 409),
    dependencies=[UploadBudget],
)
async def create_job(
    user: CurrentUser,
    services: ServicesDep,
    temporal: TemporalDep,
    file: Annotated[
        UploadFile,
        # `format: binary` beside OpenAPI 3.1's contentMediaType: generators read it as a file.
        File(
            description="the photo: JPEG, PNG, WebP, TIFF, BMP, HEIC/HEIF or AVIF",
            json_schema_extra={"format": "binary"},
        ),
    ],
    operations: Annotated[
        str,
        Form(
            description="restore, colorize or both (comma-separated, either order)",
            json_schema_extra={"enum": list(OPERATION_FORMS)},
        ),
    ],
    candidates: Annotated[
        int,
        Form(
            ge=1,
            le=4,
            description=(
                "model runs with different seeds to pick the result from (the tier's "
                "max_candidates; each beyond the first adds candidate_price_percent of the price)"
            ),
        ),
    ] = 1,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
    ] = None,
    callback_url: Annotated[
        str | None,
        Form(max_length=2000, description="this job's events also go here, signed"),
    ] = None,
) -> Response | JobOut:
    """Charge for and start a job; 202 means charged, any 4xx means nothing charged."""
    if operations not in OPERATION_FORMS:
        raise InvalidRequest(
            f"unknown operations {operations[:40]!r}; choose one of: {', '.join(OPERATION_FORMS)}"
        )
    limit = services.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLarge(f"The photo is larger than the {limit / 1e6:.0f} MB limit.")
    if callback_url is not None:
        await run_in_threadpool(_check_callback, services, user.id, callback_url)
    submission = await restoration.Submitter(services, temporal).submit(
        user,
        data=data,
        operations=operations,
        idempotency_key=idempotency_key,
        callback_url=callback_url,
        candidates=candidates,
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
    cursor: paging.CursorQuery = None,
    offset: Annotated[
        int,
        Query(ge=0, le=MAX_OFFSET, description="the older paging by position; prefer `cursor`"),
    ] = 0,
    job_status: Annotated[
        JobStatus | None, Query(alias="status", description="only jobs in this status")
    ] = None,
) -> JobList:
    """The caller's jobs, newest first; pass `next_cursor` back as `cursor` for the next page.

    `offset` is kept for the clients that used it: a job submitted meanwhile shifts its pages.
    """
    if offset:
        if cursor is not None:
            raise InvalidQuery("Pass `cursor` or `offset`, not both.")
        jobs = services.jobs.list_owned(user.id, limit=limit, offset=offset, status=job_status)
        return JobList(
            jobs=[JobOut.from_job(job) for job in jobs],
            next_cursor=None,
            limit=limit,
            offset=offset,
        )
    page = services.jobs.page_owned(
        user.id, limit=limit, after=paging.decode(cursor), status=job_status
    )
    return JobList(
        jobs=[JobOut.from_job(job) for job in page.rows],
        next_cursor=paging.next_token(page),
        limit=limit,
        offset=0,
    )


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: JobId, user: CurrentUser, services: ServicesDep) -> JobOut:
    """The job; while it waits for a GPU, also its queue position and estimated times."""
    job = services.jobs.get_owned(user.id, job_id)
    return JobOut.from_job(job, services.gpu_queue.place(job, utcnow()))


@router.post(
    "/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    responses=errors(409),
)
async def cancel_job(
    job_id: JobId, user: CurrentUser, services: ServicesDep, temporal: TemporalDep
) -> JobOut:
    """Stop a queued or running job: 202 means it will end cancelled and refunded.

    409 once the job has ended or is past the point of no return (finalizing its result).
    """
    job = await run_in_threadpool(services.jobs.get_owned, user.id, job_id)
    if JobStatus(job.status).is_final:
        raise JobAlreadyFinished(f"The job is already {job.status} and cannot be cancelled.")
    await restoration.cancel(temporal, services, user.id, job_id)
    return JobOut.from_job(await run_in_threadpool(services.jobs.get_owned, user.id, job_id))


@router.post(
    "/{job_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    responses=errors(402, 409),
)
async def retry_job(
    job_id: JobId,
    user: CurrentUser,
    caller: CallerDep,
    services: ServicesDep,
    temporal: TemporalDep,
    body: Annotated[RetryRequest | None, Body()] = None,
) -> JobOut:
    """Run a job again as a new, newly charged job; a retry of a failed job goes first in the
    queue, a new-seed retry of a completed one waits its turn as any job.

    A failed job is retried with its original seed, so the model draws the same picture;
    `{"new_seed": true}` draws another one, and may also retry a completed job.
    """
    new_seed = body is not None and body.new_seed
    job = await run_in_threadpool(services.jobs.get_owned, user.id, job_id)
    check_files_kept(job)
    if new_seed and job.status not in (JobStatus.FAILED, JobStatus.COMPLETED):
        raise Conflict("Only failed or completed jobs can be retried with a new seed.")
    if not new_seed and job.status != JobStatus.FAILED:
        raise Conflict(
            'Only failed jobs can be retried; {"new_seed": true} also retries a completed one.'
        )
    await run_in_threadpool(
        services.audit.record, caller, owner_id=user.id, action="retry", job_id=job_id
    )
    failed = job.status == JobStatus.FAILED
    data = await run_in_threadpool(services.storage.get, job.original_key)
    # A new-seed retry is its own seed origin: the submission derives its seed from its id.
    seed = None if new_seed else job_seed(await run_in_threadpool(_seed_origin, services, job))
    submission = await restoration.Submitter(services, temporal).submit(
        user,
        data=data,
        operations=job.operations,
        idempotency_key=retry_key(job.id, new_seed=new_seed),
        retry_of=job.id,
        # Only a failed job's retry makes up for the service's failure: it alone goes first.
        priority=RETRY_PRIORITY if failed else None,
        priority_retry=failed,
        seed=seed,
        candidates=job.candidates,
    )
    return JobOut.from_job(submission.job)


@router.post("/{job_id}/choose", response_model=JobOut, responses=errors(409))
def choose_candidate(
    job_id: JobId,
    body: ChooseRequest,
    user: CurrentUser,
    caller: CallerDep,
    services: ServicesDep,
) -> JobOut:
    """Make one of a completed job's candidates its result (owner only); the others stay,
    and go with the result when it is deleted or expires. Choosing again is allowed."""
    job = services.candidates.choose(user.id, job_id, body.candidate)
    services.audit.record(caller, owner_id=user.id, action="choose", job_id=job_id)
    return JobOut.from_job(job)


@router.get(
    "/{job_id}/candidates/{candidate}/{kind}", response_class=Response, responses=errors(409)
)
def get_candidate_file(
    job_id: JobId,
    candidate: Annotated[int, Path(ge=1, le=4)],
    kind: Literal["result", "thumbnail", "comparison"],
    user: CurrentUser,
    caller: CallerDep,
    services: ServicesDep,
) -> Response:
    """One candidate's result, thumbnail or before/after (owner only; anyone else gets 404).
    A job without candidates has one: its result."""
    job = services.jobs.get_owned(user.id, job_id)
    key = job_file_key(job, kind)  # 410 once the files are gone, 409 before completion
    if job.candidate_results is not None or candidate != 1:
        key = find_candidate(job.candidate_results, candidate)[f"{kind}_key"]
    services.audit.record(caller, owner_id=user.id, action=f"candidate_{kind}", job_id=job_id)
    return file_response(services, key, filename=f"{job_id}-candidate-{candidate}-{kind}.jpg")


def _seed_origin(services: ServicesDep, job: Job) -> str:
    return seed_origin(job, services.jobs.get)


def _download(
    services: ServicesDep, caller: CallerDep, user_id: str, job_id: str, kind: str
) -> Response:
    job = services.jobs.get_owned(user_id, job_id)
    key = job_file_key(job, kind)
    services.audit.record(caller, owner_id=user_id, action=kind, job_id=job_id)
    ext = key.rpartition(".")[2]
    return file_response(services, key, filename=f"{job_id}-{kind}.{ext}")


@router.get("/{job_id}/original", response_class=Response, responses=errors(409))
def get_original(
    job_id: JobId, user: CurrentUser, caller: CallerDep, services: ServicesDep
) -> Response:
    """The photo as uploaded (owner only), kept as long as the job's results."""
    return _download(services, caller, user.id, job_id, "original")


@router.get("/{job_id}/result", response_class=Response, responses=errors(409))
def get_result(
    job_id: JobId,
    user: CurrentUser,
    caller: CallerDep,
    services: ServicesDep,
    result_format: Annotated[
        Literal["jpeg", "png"] | None,
        Query(alias="format", description="png: the same pixels as a lossless PNG"),
    ] = None,
) -> Response:
    """The restored photo (owner only; anyone else gets 404): JPEG, or PNG on request."""
    if result_format != "png":
        return _download(services, caller, user.id, job_id, "result")
    job = services.jobs.get_owned(user.id, job_id)
    key = job_file_key(job, "result")
    services.audit.record(caller, owner_id=user.id, action="result", job_id=job_id)
    png = imaging.result_as_png(services.storage.get(key))
    return Response(
        png,
        media_type="image/png",
        headers={
            "Content-Disposition": f'inline; filename="{job_id}-result.png"',
            "Cache-Control": "private, max-age=3600",
        },
    )


@router.get("/{job_id}/thumbnail", response_class=Response, responses=errors(409))
def get_thumbnail(
    job_id: JobId, user: CurrentUser, caller: CallerDep, services: ServicesDep
) -> Response:
    return _download(services, caller, user.id, job_id, "thumbnail")


@router.get("/{job_id}/comparison", response_class=Response, responses=errors(409))
def get_comparison(
    job_id: JobId, user: CurrentUser, caller: CallerDep, services: ServicesDep
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
        await restoration.stop(temporal, services, user.id, job_id)
    await run_in_threadpool(
        services.audit.record, caller, owner_id=user.id, action="delete", job_id=job_id
    )
    await run_in_threadpool(services.storage.delete_prefix, job_prefix(user.id, job_id))
    await run_in_threadpool(services.jobs.mark_deleted, job_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
