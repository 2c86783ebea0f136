"""/v1/me/exports: the caller's data exports, as a resource: start one, list them, read one,
download its ZIP. A GET never starts work."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.concurrency import run_in_threadpool

from heirloom.api import paging
from heirloom.api.deps import CallerDep, CurrentUser, ServicesDep, TemporalDep
from heirloom.api.downloads import file_response
from heirloom.api.schemas import ExportList, ExportOut
from heirloom.db.models import DataExport, as_utc, utcnow
from heirloom.domain.errors import ResultExpired, ResultNotReady
from heirloom.services.privacy.export import BUILDING, READY, export_key
from heirloom.starters import export

# An export's download link is valid this long.
EXPORT_VALID_S = 86400

router = APIRouter(prefix="/v1/me/exports", tags=["account"])


def _out(row: DataExport) -> ExportOut:
    url = f"/v1/me/exports/{row.id}"
    ready = row.state == READY
    return ExportOut(
        id=row.id,
        status=row.state,
        created_at=as_utc(row.created_at),
        status_url=url,
        download_url=f"{url}/download" if ready else None,
        expires_at=as_utc(row.expires_at) if row.expires_at else None,
        size_bytes=row.size_bytes,
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=ExportOut)
async def start_export(
    user: CurrentUser, caller: CallerDep, services: ServicesDep, temporal: TemporalDep
) -> ExportOut:
    """Start building a ZIP of the caller's data; poll `status_url` for its download link.
    One at a time (409 while one builds) and `HEIRLOOM_EXPORT_DAILY_LIMIT` a day (429)."""
    exporter = services.exporter
    row = await run_in_threadpool(
        exporter.request, user.id, daily_limit=services.settings.export_daily_limit
    )
    # Recorded before the build: the archive's audit.json then holds the export that made it.
    await run_in_threadpool(services.audit.record, caller, owner_id=user.id, action="export")
    try:
        await export.start_export(temporal, user.id, row.id, valid_s=EXPORT_VALID_S)
    except BaseException:
        await run_in_threadpool(exporter.forget, row.id)
        raise
    return _out(row)


@router.get("", response_model=ExportList)
def list_exports(
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    cursor: paging.CursorQuery = None,
) -> ExportList:
    """The caller's exports, newest first (read-only: starting one is the POST); page with
    `cursor`."""
    page = services.exporter.page(user.id, limit=limit, after=paging.decode(cursor))
    return ExportList(
        exports=[_out(row) for row in page.rows],
        next_cursor=paging.next_token(page),
    )


@router.get("/{export_id}", response_model=ExportOut)
def export_status(export_id: str, user: CurrentUser, services: ServicesDep) -> ExportOut:
    return _out(services.exporter.get(user.id, export_id))


@router.get("/{export_id}/download", response_class=Response)
async def download_export(
    export_id: str, user: CurrentUser, caller: CallerDep, services: ServicesDep
) -> Response:
    """The ZIP, for a day after it was built (a presigned S3 URL in production)."""
    row = await run_in_threadpool(services.exporter.get, user.id, export_id)
    if row.state == BUILDING:
        raise ResultNotReady("The export is still being built.")
    expired = row.expires_at is None or as_utc(row.expires_at) <= utcnow()
    if row.state != READY or expired:
        raise ResultExpired(
            "This export's download link has expired (or its build failed); "
            "start a new export with POST /v1/me/exports."
        )
    await run_in_threadpool(
        services.audit.record, caller, owner_id=user.id, action="export_download"
    )
    return await run_in_threadpool(
        file_response,
        services,
        export_key(user.id, export_id),
        filename=f"heirloom-export-{export_id}.zip",
        attachment=True,
    )
