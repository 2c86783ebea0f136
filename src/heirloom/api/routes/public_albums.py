"""/a/{token}: the public page of a shared album, every photo's before/after, no API key
needed; the same headers as a photo's share page, and each view audited."""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.responses import HTMLResponse

from heirloom.api.deps import ServicesDep, ShareBudget
from heirloom.api.downloads import file_response
from heirloom.api.routes.public_shares import PUBLIC_HEADERS, PublicCaller
from heirloom.api.routes.web import page_headers
from heirloom.domain.errors import NotFound
from heirloom.domain.jobs import JobStatus

router = APIRouter(prefix="/a", tags=["public shares"], dependencies=[ShareBudget])


@router.get(
    "/{token}",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "the album's page"}},
)
def album_page(token: str, caller: PublicCaller, services: ServicesDep) -> HTMLResponse:
    """Every completed photo of the album, before and after side by side."""
    album = services.albums.shared(token)
    services.audit.record(caller, owner_id=album.user_id, action="album_share_view")
    base = f"/a/{html.escape(token)}"
    figures = [
        f'<figure><img src="{base}/photos/{job.id}/comparison" loading="lazy" '
        f'alt="Photo {number} before and after restoration, side by side">'
        f"<figcaption>Photo {number}</figcaption></figure>"
        for number, job in enumerate(services.albums.jobs(album.id), start=1)
        if job.status == JobStatus.COMPLETED and job.comparison_key
    ]
    body = (
        f"<h1>A restored album</h1><p>{len(figures)} of {album.photos} photos, before and "
        "after.</p>" + "".join(figures)
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>A restored album - Heirloom</title>
<link rel="stylesheet" href="/static/app.css"></head>
<body class="public"><header class="bar"><span class="brand">Heirloom</span></header>
<main id="main">{body}</main></body></html>"""
    return HTMLResponse(page, headers={**page_headers(services.settings), **PUBLIC_HEADERS})


@router.get("/{token}/photos/{job_id}/comparison", response_class=Response)
def album_photo_comparison(
    token: str,
    job_id: Annotated[str, Path(min_length=1, max_length=32)],
    caller: PublicCaller,
    services: ServicesDep,
) -> Response:
    """One photo's before/after, when it belongs to the shared album and has completed."""
    album = services.albums.shared(token)
    job = services.jobs.find(job_id)
    if job is None or job.album_id != album.id or job.status != JobStatus.COMPLETED:
        raise NotFound("This photo is not part of the shared album, or has no result.")
    assert job.comparison_key is not None
    services.audit.record(
        caller, owner_id=album.user_id, action="album_share_comparison", job_id=job.id
    )
    response = file_response(services, job.comparison_key, filename=f"heirloom-{job.id[-6:]}.jpg")
    response.headers.update(PUBLIC_HEADERS)
    return response
