"""/s/{token}: the public share page and its images, no API key needed.

Every answer carries `Referrer-Policy: no-referrer` (the token never leaks to another site
through a Referer header) and `X-Robots-Tag: noindex`; each view is audited and counted.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from heirloom.api.deps import ServicesDep, ShareBudget
from heirloom.api.downloads import file_response
from heirloom.api.routes.web import page_headers
from heirloom.db.models import Job, Share, utcnow
from heirloom.domain.errors import DownloadNotAllowed, HeirloomError
from heirloom.services.privacy.audit import PUBLIC_ACTOR, VIA_SHARE, Caller

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


# The page is HTML; its refusals are the API's JSON errors, as the document says (and a small
# page with the same words for a browser that navigated to the link).
@router.get(
    "/{token}",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "the share page"}},
)
def share_page(token: str, caller: PublicCaller, services: ServicesDep) -> HTMLResponse:
    """The before/after slider (from the comparison image) and the result."""
    share, _job = _open(services, caller, token, "share_view")
    services.shares.count_view(share.id)
    base = f"/s/{html.escape(token)}"
    download = (
        f'<p><a class="button" href="{base}/download" rel="noreferrer" download>'
        "Download the restored photo</a></p>"
        if share.allow_download
        else ""
    )
    body = f"""<h1>A restored photo</h1>
<h2>Before and after</h2>
<figure class="compare-source" data-comparison="{base}/comparison">
<img src="{base}/comparison" alt="The photo before and after restoration, side by side">
</figure>
<h2>Restored</h2><img class="photo" src="{base}/result" alt="The restored photo">
{download}"""
    return HTMLResponse(
        _page("A restored photo", body, script="share.js"),
        headers={**page_headers(services.settings), **PUBLIC_HEADERS},
    )


def wants_page(request: Request) -> bool:
    """A browser navigating to the link (it asks for HTML), not a client reading JSON."""
    return "text/html" in request.headers.get("accept", "")


def error_page(error: HeirloomError, headers: Mapping[str, str]) -> HTMLResponse:
    """Why a share link does not open (gone, unknown, too many views), in the API's words."""
    title = _ERROR_TITLES.get(error.http_status, "This link does not open")
    body = f"""<h1>{html.escape(title)}</h1>
<p class="error" role="alert">{html.escape(error.message)}</p>
<p>Ask the person who sent it for a new link.</p>"""
    return HTMLResponse(
        _page("Link unavailable", body),
        status_code=error.http_status,
        headers={**headers, **PUBLIC_HEADERS},
    )


_ERROR_TITLES = {404: "No photo at this link", 410: "This link has ended"}


def _page(title: str, body: str, script: str | None = None) -> str:
    module = f'<script type="module" src="/static/{script}"></script>' if script else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} - Heirloom</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/app.css">{module}</head>
<body class="public"><header class="bar"><span class="brand">Heirloom</span></header>
<main id="main">{body}</main></body></html>"""


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
