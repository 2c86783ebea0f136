"""`/`: the web app's page, and `/static/*`: its assets (both outside the OpenAPI document).

The app signs in with an API key kept in the browser's session storage and sends it only in
the Authorization header; its live status uses a stream token, so no URL ever carries the key.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from heirloom.api.deps import ServicesDep
from heirloom.config import Settings
from heirloom.web import STATIC_DIR

router = APIRouter(include_in_schema=False)

# Where presigned S3 downloads come from when the endpoint is AWS's own.
_AWS_S3_ORIGINS = "https://*.amazonaws.com"


def content_security_policy(settings: Settings) -> str:
    """Scripts, styles and calls from this origin only; images also from blob URLs and, with
    the S3 backend, from the bucket that presigned downloads redirect to."""
    storage = ""
    if settings.storage_backend == "s3":
        if settings.s3_endpoint_url:
            parts = urlsplit(settings.s3_endpoint_url)
            storage = f" {parts.scheme}://{parts.netloc}"
        else:
            storage = f" {_AWS_S3_ORIGINS}"
    return (
        "default-src 'self'; "
        f"img-src 'self' blob: data:{storage}; "
        f"connect-src 'self'{storage}; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def page_headers(settings: Settings) -> dict[str, str]:
    """The headers of every HTML page the API serves."""
    return {"Content-Security-Policy": content_security_policy(settings)}


@router.get("/")
def index(services: ServicesDep) -> FileResponse:
    """The single-page app; its pages are client-side routes after `#`."""
    # Revalidated each time, so a deploy's new page (and the modules it names) is picked up.
    headers = {**page_headers(services.settings), "Cache-Control": "no-cache"}
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=headers)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The icon, for clients that ask at the conventional address instead of the page's link."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


def mount_assets(app: FastAPI) -> None:
    """Serve the app's scripts, styles and images under /static."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
