"""/v1/albums: many photos with one set of operations, each a job of its own; the album's
status and counts, one event stream, a ZIP of its results and a share link of the whole."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Response, UploadFile
from fastapi import status as http_status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from heirloom.api.contract import errors
from heirloom.api.deps import CallerDep, CurrentUser, ServicesDep, TemporalDep, UploadBudget
from heirloom.api.downloads import file_response
from heirloom.api.schemas import JobOut
from heirloom.db.models import Album, as_utc, utcnow
from heirloom.services.albums.albums import album_state
from heirloom.services.context import Services
from heirloom.starters.albums import AlbumSubmitter, AlbumUpload

router = APIRouter(prefix="/v1/albums", tags=["albums"])

AlbumId = Annotated[str, Path(min_length=1, max_length=32)]


class AlbumOut(BaseModel):
    """An album as its owner sees it: its photos' jobs counted by status, and each of them."""

    id: str
    status: str = Field(description="running until every photo has ended, then completed")
    operations: list[str]
    photos: int
    credits_charged: int = Field(description="the album's total when it was charged")
    counts: dict[str, int] = Field(description="the photos' jobs by status")
    jobs: list[JobOut]
    events_url: str
    zip_url: str | None = Field(description="the ZIP of results, once completed, for a day")
    zip_expires_at: datetime | None
    created_at: datetime
    finished_at: datetime | None


class AlbumShareOut(BaseModel):
    url: str = Field(description="the public page with every before/after; shown once")


def _album_out(services: Services, album: Album) -> AlbumOut:
    jobs = services.albums.jobs(album.id)
    state = album_state(album, services.albums.counts(album.id))
    return AlbumOut(
        id=album.id,
        status=album.status,
        operations=album.operations.split(","),
        photos=album.photos,
        credits_charged=album.cost,
        counts=state["counts"],
        jobs=[JobOut.from_job(job) for job in jobs],
        events_url=f"/v1/albums/{album.id}/events",
        zip_url=state["zip_url"],
        zip_expires_at=as_utc(album.zip_expires_at) if album.zip_expires_at else None,
        created_at=as_utc(album.created_at),
        finished_at=as_utc(album.finished_at) if album.finished_at else None,
    )


@router.post(
    "",
    status_code=http_status.HTTP_202_ACCEPTED,
    response_model=AlbumOut,
    responses=errors(402, 429),
    dependencies=[UploadBudget],
)
async def create_album(
    user: CurrentUser,
    services: ServicesDep,
    temporal: TemporalDep,
    files: Annotated[
        list[UploadFile], File(description="the photos, as for POST /v1/jobs, in order")
    ],
    operations: Annotated[str, Form(description="restore, colorize or restore,colorize")],
) -> AlbumOut:
    """Charge every photo and start them, or charge nothing: 402 says how many credits are
    missing. Each photo is a job of its own (its own refund and result)."""
    uploads = [AlbumUpload(name=f.filename or "photo", size=f.size, data=f) for f in files]
    album = await AlbumSubmitter(services, temporal).submit(user, uploads, operations)
    return await run_in_threadpool(_album_out, services, album)


@router.get("/{album_id}", response_model=AlbumOut)
def get_album(album_id: AlbumId, user: CurrentUser, services: ServicesDep) -> AlbumOut:
    """The album, its counts per status and its photos' jobs."""
    return _album_out(services, services.albums.get_owned(user.id, album_id))


@router.get("/{album_id}/zip", response_class=Response, responses=errors(409))
def get_album_zip(
    album_id: AlbumId, user: CurrentUser, caller: CallerDep, services: ServicesDep
) -> Response:
    """The ZIP of the album's results (owner only), for a day after the album completed."""
    key = services.albums.zip_key(user.id, album_id, utcnow())
    services.audit.record(caller, owner_id=user.id, action="album_zip")
    return file_response(services, key, filename=f"album-{album_id}.zip", attachment=True)


@router.post(
    "/{album_id}/shares", status_code=http_status.HTTP_201_CREATED, response_model=AlbumShareOut
)
def share_album(
    album_id: AlbumId, user: CurrentUser, caller: CallerDep, services: ServicesDep
) -> AlbumShareOut:
    """A public link to a page with every before/after of the album; a new link replaces the
    previous one."""
    token = services.albums.share(user.id, album_id)
    services.audit.record(caller, owner_id=user.id, action="album_share")
    return AlbumShareOut(url=f"/a/{token}")


@router.delete(
    "/{album_id}/shares", status_code=http_status.HTTP_204_NO_CONTENT, response_class=Response
)
def unshare_album(
    album_id: AlbumId, user: CurrentUser, caller: CallerDep, services: ServicesDep
) -> Response:
    """Revoke the album's share link."""
    services.albums.unshare(user.id, album_id)
    services.audit.record(caller, owner_id=user.id, action="album_unshare")
    return Response(status_code=http_status.HTTP_204_NO_CONTENT)
