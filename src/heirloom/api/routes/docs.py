"""`/docs` (Swagger UI) and `/redoc` (ReDoc): the API's reference, served whole by the API.

The viewers' scripts come from the `fastapi-offline` package and are served at
`/docs-assets/*`, so the pages render with no internet and under the web app's own
Content-Security-Policy (scripts from this origin only: each page's start-up script is a file
too, never inline). ReDoc alone also needs inline styles (styled-components writes its CSS
into <style> elements as it renders, some before any nonce could reach it) and a search
worker from a blob URL: its page adds exactly those two to the policy, scripts stay strict.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from heirloom.api.deps import ServicesDep
from heirloom.api.routes.web import page_headers

router = APIRouter(include_in_schema=False)

# Swagger UI's and ReDoc's bundles, as the package ships them.
VIEWER_ASSETS = Path(fastapi_offline.__file__).parent / "static"

_REDOC_POLICY = "style-src 'self' 'unsafe-inline'; worker-src 'self' blob:"
_REDOCLY_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"

_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Heirloom API: reference</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/docs-assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs-assets/swagger-ui-bundle.js"></script>
<script src="/static/docs/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Heirloom API: reference</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head>
<body>
<div id="redoc"></div>
<script src="/docs-assets/redoc.standalone.js"></script>
<script src="/static/docs/redoc-init.js"></script>
</body>
</html>
"""


def _page(html: str, services: ServicesDep, *, extra_policy: str = "") -> HTMLResponse:
    headers = {**page_headers(services.settings), "Cache-Control": "no-cache"}
    if extra_policy:
        headers["Content-Security-Policy"] += f"; {extra_policy}"
    return HTMLResponse(html, headers=headers)


@router.get("/docs")
def swagger_ui(services: ServicesDep) -> HTMLResponse:
    """Swagger UI over `/openapi.json`, to read and try every route."""
    return _page(_SWAGGER_PAGE, services)


@router.get("/redoc")
def redoc(services: ServicesDep) -> HTMLResponse:
    """ReDoc over `/openapi.json`, the same reference as one long page."""
    return _page(_REDOC_PAGE, services, extra_policy=_REDOC_POLICY)


@router.get("/docs-assets/redoc.standalone.js")
def redoc_bundle() -> Response:
    """ReDoc's bundle, its one remote address (the Redocly logo) pointed at the API's icon."""
    return Response(
        _redoc_bundle(), media_type="text/javascript", headers={"Cache-Control": "no-cache"}
    )


@cache
def _redoc_bundle() -> bytes:
    bundle = (VIEWER_ASSETS / "redoc.standalone.js").read_bytes()
    return bundle.replace(_REDOCLY_LOGO, b"/static/favicon.svg")


def mount_assets(app: FastAPI) -> None:
    """Serve the viewers' bundles under /docs-assets."""
    app.mount("/docs-assets", StaticFiles(directory=VIEWER_ASSETS), name="docs-assets")
