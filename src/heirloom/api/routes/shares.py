"""/v1/jobs/{id}/shares: create, list and revoke a job's share links (owner only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from heirloom.api import paging
from heirloom.api.deps import CallerDep, CurrentCaller, CurrentUser, ServicesDep
from heirloom.api.downloads import check_files_kept
from heirloom.api.schemas import ShareCreate, ShareList, ShareOut
from heirloom.db.models import utcnow
from heirloom.domain.errors import InvalidRequest

router = APIRouter(prefix="/v1/jobs/{job_id}/shares", tags=["shares"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ShareOut)
def create_share(
    job_id: str,
    body: ShareCreate,
    request: Request,
    user: CurrentUser,
    key: CurrentCaller,
    caller: CallerDep,
    services: ServicesDep,
) -> ShareOut:
    """A public link to the job's result; its URL is shown this once."""
    settings = services.settings
    expires_in = body.expires_in or settings.share_default_ttl_s
    if expires_in > settings.share_max_ttl_s:
        raise InvalidRequest(
            f"A share link can live at most {settings.share_max_ttl_s // 86400} days."
        )
    job = services.jobs.get_owned(user.id, job_id)
    check_files_kept(job)
    now = utcnow()
    created = services.shares.create(
        job,
        expires_in_s=expires_in,
        allow_download=body.allow_download,
        now=now,
        created_by_key_id=key.key_id,
    )
    services.audit.record(
        caller, owner_id=user.id, action="share_create", job_id=job_id, share_id=created.share.id
    )
    url = str(request.base_url).rstrip("/") + f"/s/{created.token}"
    return ShareOut.from_share(created.share, now=now, url=url)


@router.get("", response_model=ShareList)
def list_shares(
    job_id: str,
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    cursor: paging.CursorQuery = None,
) -> ShareList:
    """The job's share links, newest first; page with `cursor`."""
    services.jobs.get_owned(user.id, job_id)
    now = utcnow()
    page = services.shares.page_for_job(user.id, job_id, limit=limit, after=paging.decode(cursor))
    return ShareList(
        shares=[ShareOut.from_share(share, now=now) for share in page.rows],
        next_cursor=paging.next_token(page),
    )


@router.delete("/{share_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def revoke_share(
    job_id: str, share_id: str, user: CurrentUser, caller: CallerDep, services: ServicesDep
) -> Response:
    """Revoke a link: it answers 410 Gone from now on."""
    services.jobs.get_owned(user.id, job_id)
    services.shares.revoke(user.id, share_id, utcnow())
    services.audit.record(
        caller, owner_id=user.id, action="share_revoke", job_id=job_id, share_id=share_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
