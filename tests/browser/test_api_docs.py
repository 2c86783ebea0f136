"""/docs and /redoc in Chromium with no name resolution at all (as on a machine without
internet): both render the API's reference from the API's own origin and ask nothing of any
other. Screenshots go to test-artifacts/docs/.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser.recording import PageRecord
from tests.conftest import ServedApi
from tests.harness.required import unavailable
from tests.support import HANG_GUARD_S

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).parents[2] / "test-artifacts" / "docs"
DEADLINE_MS = HANG_GUARD_S * 1000

try:
    from playwright.sync_api import Browser, expect, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    unavailable("browser", "playwright is not installed (the dev extra has it)", module_level=True)

if not CHROMIUM.exists():
    unavailable("browser", f"{CHROMIUM} is absent: apt-get install chromium", module_level=True)


@pytest.fixture(scope="module")
def offline_browser() -> Iterator[Browser]:
    """Chromium that cannot resolve any name: a CDN would fail as it does offline."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    return SHOTS


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("/docs", ".swagger-ui .opblock-summary-path[data-path='/v1/jobs']"),
        ("/redoc", "[data-section-id='tag/jobs']"),
    ],
)
def test_the_reference_renders_offline_from_the_api_alone(
    serve_api: Callable[..., ServedApi],
    offline_browser: Browser,
    shots: Path,
    path: str,
    rendered: str,
) -> None:
    api = serve_api()
    context = offline_browser.new_context(base_url=api.url)
    context.set_default_timeout(DEADLINE_MS)
    record = PageRecord()
    record.watch(context)
    try:
        page = context.new_page()
        answer = page.goto(path)
        assert answer is not None
        assert answer.status == 200
        assert "default-src 'self'" in answer.headers["content-security-policy"]
        expect(page.locator(rendered).first).to_be_visible()
        expect(page.get_by_text("Old-photo restoration").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=shots / f"{path.strip('/')}.png", full_page=False)
        origin = urlsplit(api.url).netloc
        elsewhere = [
            url
            for url in record.requests
            if urlsplit(url).scheme in ("http", "https", "ws", "wss")
            and urlsplit(url).netloc != origin
        ]
        assert elsewhere == [], f"requests outside {origin}: {elsewhere}"
        assert any(url.endswith("/openapi.json") for url in record.requests)
        record.assert_clean()
    finally:
        context.close()
