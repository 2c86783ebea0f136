"""/s/{token}: the public share page and its images, no API key needed.

Every answer carries `Referrer-Policy: no-referrer` (the token never leaks to another site
through a Referer header) and `X-Robots-Tag: noindex`; each view is audited and counted.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from heirloom.api.deps import ServicesDep, ShareBudget
from heirloom.api.downloads import file_response
from heirloom.db.models import Job, Share, utcnow
from heirloom.domain.errors import DownloadNotAllowed
from heirloom.services.audit import PUBLIC_ACTOR, VIA_SHARE, Caller

router = APIRouter(prefix="/s", tags=["public shares"], dependencies=[ShareBudget])

PUBLIC_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "no-store",
}


def public_caller(request: Request) -> Caller:
    return Caller(
        actor=PUBLIC_ACTOR,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        via=VIA_SHARE,
    )


PublicCaller = Annotated[Caller, Depends(public_caller)]


def _open(services: ServicesDep, caller: Caller, token: str, action: str) -> tuple[Share, Job]:
    share, job = services.shares.resolve(token, utcnow())
    services.audit.record(
        caller, owner_id=job.user_id, action=action, job_id=job.id, share_id=share.id
    )
    return share, job


# The page is HTML; its refusals are the API's JSON errors, as the document says.
@router.get(
    "/{token}",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "the share page"}},
)
def share_page(token: str, caller: PublicCaller, services: ServicesDep) -> HTMLResponse:
    """A small page with the before/after comparison and the result."""
    share, _job = _open(services, caller, token, "share_view")
    services.shares.count_view(share.id)
    base = f"/s/{html.escape(token)}"
    download = (
        f'<p><a href="{base}/download" rel="noreferrer">Download the restored photo</a></p>'
        if share.allow_download
        else ""
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>A restored photo - Heirloom</title>
<style>body{{font-family:sans-serif;margin:2rem auto;max-width:1600px;padding:0 1rem}}
img{{max-width:100%;height:auto;display:block;margin:1rem 0}}</style></head>
<body><h1>A restored photo</h1>
<h2>Before and after</h2><img src="{base}/comparison" alt="Before and after">
<h2>Restored</h2><img src="{base}/result" alt="The restored photo">
{download}</body></html>"""
    return HTMLResponse(page, headers=PUBLIC_HEADERS)


def _image(services: ServicesDep, caller: Caller, token: str, kind: str) -> Response:
    share, job = _open(services, caller, token, f"share_{kind}")
    if kind == "download" and not share.allow_download:
        raise DownloadNotAllowed()
    key = {"result": job.result_key, "comparison": job.comparison_key, "download": job.result_key}[
        kind
    ]
    assert key is not None  # resolve() only answers completed jobs, which have every file
    response = file_response(
        services, key, filename=f"heirloom-{share.id[:8]}.jpg", attachment=kind == "download"
    )
    response.headers.update(PUBLIC_HEADERS)
    return response


@router.get("/{token}/result", response_class=Response)
def share_result(token: str, caller: PublicCaller, services: ServicesDep) -> Response:
    """Only the restored image, for viewing."""
    return _image(services, caller, token, "result")


@router.get("/{token}/comparison", response_class=Response)
def share_comparison(token: str, caller: PublicCaller, services: ServicesDep) -> Response:
    return _image(services, caller, token, "comparison")


@router.get("/{token}/download", response_class=Response)
def share_download(token: str, caller: PublicCaller, services: ServicesDep) -> Response:
    """The restored image as a file, when the owner allowed downloading."""
    return _image(services, caller, token, "download")
