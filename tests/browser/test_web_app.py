"""The web app in a real browser (Debian's Chromium through Playwright) against the running stack.

A user signs in, uploads a photo, watches it reach 100% without reloading, drags the slider,
downloads the result, shares it with a second browser that has no key, revokes the link and
sees the 410 page; a newcomer signs up by the link the SMTP catcher caught and restores a
first photo; another user cancels a slow job while an admin watches it in the dashboard;
a portrait's result shows the quality check's words beside the slider, flagged when the model
pasted another face in.
Every page is saved as a screenshot at desktop and phone width under test-artifacts/.
Every tab records its console and every answer (tests/browser/recording.py): a console error or
a refusal the story does not contain fails the test.
"""

from __future__ import annotations

import io
import random
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image, ImageDraw, ImageOps

from heirloom.devstack.mail_catcher import messages
from heirloom.domain.tiers import Tier
from tests.browser.recording import PageRecord
from tests.conftest import MailCatcher, Stack
from tests.harness.evaluation_photos import jpeg, lfw_portraits
from tests.harness.required import unavailable
from tests.support import HANG_GUARD_S, HangGuard, photo_bytes

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parents[2] / "test-artifacts" / "screenshots"
# Guards against a hang only: every wait below ends as soon as its condition holds.
DEADLINE_MS = HANG_GUARD_S * 1000

try:
    from playwright.sync_api import (
        Browser,
        Page,
        ViewportSize,
        WebSocketRoute,
        expect,
        sync_playwright,
    )
except ImportError:  # pragma: no cover - the dev extra installs it
    unavailable("browser", "playwright is not installed (the dev extra has it)", module_level=True)

if not CHROMIUM.exists():
    unavailable(
        "browser",
        f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium) "
        "to run the browser tests",
        module_level=True,
    )

expect.set_options(timeout=DEADLINE_MS)
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}

# One stack is enough for a browser: the database backends have tests of their own.
pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module (no browser is ever downloaded)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


class Tab:
    """A browser page of the app, recording every URL it requests or opens a WebSocket to,
    its console and every answer."""

    def __init__(self, browser: Browser, base_url: str, shots: Path) -> None:
        self.context = browser.new_context(viewport=DESKTOP, base_url=base_url)
        self.context.set_default_timeout(DEADLINE_MS)
        self.record = PageRecord()
        self.record.watch(self.context)
        self.page: Page = self.context.new_page()
        self.urls: list[str] = []
        self.context.on("request", lambda request: self.urls.append(request.url))
        # WebSockets are not requests to Playwright: their URLs come from their own event.
        self.page.on("websocket", lambda socket: self.urls.append(socket.url))
        self.shots = shots

    def sign_in(self, key: str) -> None:
        page = self.page
        page.goto("/")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Restore a photo")).to_be_visible()

    def shoot(self, name: str) -> None:
        """Save the page at desktop width, and at phone width if `phone`."""
        self.page.screenshot(path=self.shots / f"{name}-desktop.png", full_page=True)

    def shoot_phone(self, name: str) -> None:
        self.page.set_viewport_size(PHONE)
        try:
            self.page.screenshot(path=self.shots / f"{name}-phone.png", full_page=True)
        finally:
            self.page.set_viewport_size(DESKTOP)

    def close(self) -> None:
        self.context.close()


def faded_photo(width: int = 720, height: int = 540) -> bytes:
    """A faded, scratched sepia picture (a house under a sky), for the restorer to lift."""
    image = Image.new("L", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        draw.line((0, y, width, y), fill=200 - y * 90 // height)
    draw.rectangle((0, height * 2 // 3, width, height), fill=90)
    draw.rectangle((220, 230, 500, 380), fill=150)
    draw.polygon([(200, 230), (360, 130), (520, 230)], fill=70)
    draw.rectangle((330, 290, 390, 380), fill=50)
    draw.ellipse((560, 60, 640, 140), fill=235)
    rng = random.Random(7)
    for _ in range(6):
        x = rng.randrange(width)
        draw.line((x, 0, x + rng.randrange(-40, 40), height), fill=215, width=1)
    grain = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    faded = Image.blend(Image.blend(image, Image.new("L", image.size, 150), 0.55), grain, 0.08)
    sepia = ImageOps.colorize(faded, black="#3b2a1a", white="#f3e3c3")
    out = io.BytesIO()
    sepia.save(out, "JPEG", quality=90)
    return out.getvalue()


def upload(page: Page, photo: bytes) -> str:
    """Choose a photo on the upload page and submit it; returns the job id."""
    page.locator("#photo").set_input_files(
        {"name": "grandparents.jpg", "mimeType": "image/jpeg", "buffer": photo}
    )
    page.get_by_role("button", name="Restore this photo").click()
    expect(page).to_have_url(re.compile(r"#/jobs/\w+$"))
    return page.url.rpartition("#/jobs/")[2]


def test_a_photo_is_restored_downloaded_shared_and_unshared(
    stack: Stack, browser: Browser, screenshots: Path
) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    tab = Tab(browser, stack.api_url, screenshots)
    visitor = browser.new_context(viewport=DESKTOP)
    visitor.set_default_timeout(DEADLINE_MS)
    seen = PageRecord()
    seen.watch(visitor)
    try:
        page = tab.page
        page.goto("/")
        expect(page.get_by_text(".heirloom/dev-api-key").first).to_be_visible()
        tab.shoot("sign-in")
        tab.shoot_phone("sign-in")
        tab.record.expect_refusal(401, r"/v1/me$")  # the wrong key, on purpose
        page.get_by_label("API key").fill("hl_not_a_key")
        page.get_by_role("button", name="Sign in").click()
        refused = httpx.get(
            f"{stack.api_url}/v1/me", headers={"Authorization": "Bearer hl_not_a_key"}, timeout=30
        )
        expect(page.get_by_role("alert")).to_have_text(refused.json()["error"]["message"])
        tab.sign_in(key)
        expect(page.locator("#cost-summary")).to_contain_text("balance is 20")
        tab.shoot("upload")
        tab.shoot_phone("upload")

        # A marker on the window: were the page reloaded, it would be gone.
        page.evaluate("window.heirloomTestMarker = 1")
        job_id = upload(page, faded_photo())
        expect(page.locator("#job-stage")).to_have_text("Done · 100%")
        expect(page.locator("#job-progress")).to_have_attribute("value", "100")
        assert page.evaluate("window.heirloomTestMarker") == 1, "the page reloaded"

        slider = page.locator("figure.compare")
        expect(slider).to_have_attribute("data-position", "50")
        slider.scroll_into_view_if_needed()
        box = slider.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        dragged = int(slider.get_attribute("data-position") or "50")
        assert 15 <= dragged <= 25, dragged
        range_input = slider.locator("input[type=range]")
        range_input.press("ArrowRight")
        expect(slider).to_have_attribute("data-position", str(dragged + 1))
        tab.shoot("job")
        tab.shoot_phone("job")

        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download").click()
        downloaded = Path(download_info.value.path()).read_bytes()
        with stack.client(key) as client:
            result = client.get(f"/v1/jobs/{job_id}/result")
        assert result.status_code == 200
        assert downloaded == result.content
        assert downloaded[:3] == b"\xff\xd8\xff"  # a JPEG

        page.get_by_label("Link expires after").select_option(label="1 day")
        page.get_by_role("button", name="Create share link").click()
        share_url = page.locator("#share-url").input_value()
        assert share_url.startswith(f"{stack.api_url}/s/")
        expect(page.locator("#share-list")).to_contain_text("active")

        shared = visitor.new_page()
        seen_by_visitor: list[str] = []
        visitor.on("request", lambda request: seen_by_visitor.append(request.url))
        answer = shared.goto(share_url)
        assert answer is not None
        assert answer.status == 200
        expect(shared.get_by_role("heading", name="A restored photo")).to_be_visible()
        expect(shared.locator("figure.compare input[type=range]")).to_be_visible()
        shared.screenshot(path=screenshots / "share-desktop.png", full_page=True)
        shared.set_viewport_size(PHONE)
        shared.screenshot(path=screenshots / "share-phone.png", full_page=True)
        shared.set_viewport_size(DESKTOP)

        # The slider reuses the comparison the page loaded: one fetch, one audited access.
        assert sum(url.endswith("/comparison") for url in seen_by_visitor) == 1
        page.get_by_role("button", name="Revoke").click()
        expect(page.locator("#share-list")).to_contain_text("revoked")
        seen.expect_refusal(410, re.escape(share_url) + "$")  # the revoked link's page
        gone = shared.reload()
        assert gone is not None
        assert gone.status == 410
        expect(shared.get_by_role("heading", name="This link has ended")).to_be_visible()
        api_error = httpx.get(share_url, timeout=30).json()["error"]
        assert api_error["code"] == "share_gone"
        expect(shared.get_by_role("alert")).to_have_text(api_error["message"])
        shared.screenshot(path=screenshots / "share-gone-desktop.png", full_page=True)
        shared.set_viewport_size(PHONE)
        shared.screenshot(path=screenshots / "share-gone-phone.png", full_page=True)

        page.get_by_role("link", name="History").click()
        card = page.locator(f'a[data-job-id="{job_id}"]')
        expect(card).to_contain_text("completed")
        expect(card.locator("img.thumb")).to_be_visible()
        tab.shoot("history")
        tab.shoot_phone("history")

        page.get_by_role("link", name="Account").click()
        expect(page.locator("#balance")).to_have_text("18")
        page.get_by_label("New key's name").fill("laptop")
        page.get_by_role("button", name="Create key").click()
        expect(page.locator("#new-key")).to_have_text(re.compile(r"^hl_"))
        expect(page.get_by_role("cell", name="laptop")).to_be_visible()
        # The new key was made by the key of this tab; revoking it with all it made ends it.
        laptop = page.get_by_role("row").filter(has_text="laptop")
        expect(laptop).to_contain_text("default")
        page.once("dialog", lambda dialog: dialog.accept())
        laptop.get_by_role("button", name="Revoke with all it made").click()
        expect(laptop).to_contain_text("revoked")
        close = page.get_by_role("button", name="Delete my account")
        expect(close).to_be_disabled()
        page.get_by_label("Type your email").fill("someone@else.example")
        expect(close).to_be_disabled()
        tab.shoot("account")
        tab.shoot_phone("account")

        leaked = [url for url in tab.urls if key in url]
        assert leaked == [], "the API key appeared in a URL"
        assert any("/ws?token=" in url for url in tab.urls), "no WebSocket with a stream token"
        tab.record.assert_clean()
        seen.assert_clean()
    finally:
        visitor.close()
        tab.close()


def test_a_slow_job_is_cancelled_while_the_admin_sees_it_on_a_gpu(
    faults: Stack, browser: Browser, screenshots: Path
) -> None:
    stack = faults
    # The model takes a minute: the job stays on a GPU until it is cancelled.
    stack.set_faults(execution_ms=60_000)
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    with stack.client(stack.admin_key) as admin:
        created = admin.post(
            "/v1/admin/users", json={"email": email, "tier": "paid", "credits": 20}
        )
    assert created.status_code == 201, created.text
    key: str = created.json()["api_key"]
    tab = Tab(browser, stack.api_url, screenshots)
    operator = Tab(browser, stack.api_url, screenshots)
    # The job's WebSockets pass through a route the test can cut, as a network drop would.
    sockets: list[WebSocketRoute] = []

    def pass_through(socket: WebSocketRoute) -> None:
        socket.connect_to_server()
        sockets.append(socket)

    try:
        page = tab.page
        page.route_web_socket(re.compile(r"/v1/jobs/\w+/ws\?"), pass_through)
        tab.sign_in(key)
        upload(page, photo_bytes(320, 240))
        expect(page.locator("#job-stage")).to_contain_text("Restoring on the GPU")
        expect(page.locator("#job-connection")).to_have_text("Live updates")
        tab.shoot("job-running")

        # A dropped connection: the page reconnects by itself, resuming after the last event.
        sockets[-1].close(code=1011, reason="dropped by the test")
        _wait_for(page, lambda: len(sockets) == 2, "the page reconnects")
        resumed = parse_qs(urlsplit(sockets[1].url).query)
        assert int(resumed["after"][0]) > 0
        assert resumed["token"][0] != parse_qs(urlsplit(sockets[0].url).query)["token"][0]
        expect(page.locator("#job-connection")).to_have_text("Live updates")

        operator.sign_in(stack.admin_key)
        operator.page.get_by_role("link", name="Operator").click()
        on_gpu = _api(stack, "/v1/queue")
        in_flight = sum(t["on_gpu"] for t in on_gpu["tiers"])
        assert in_flight >= 1
        expect(operator.page.locator("#gpu-in-flight")).to_contain_text(
            f"/ {on_gpu['gpu_pool_size']}"
        )
        operator.page.get_by_label("Find a user").fill(email)
        row = operator.page.locator("#user-list tbody tr")
        expect(row).to_have_count(1)
        expect(row.locator("td").nth(4)).to_have_text("1")  # the user's one job
        row.get_by_label(f"Credits to grant {email}").fill("5")
        row.get_by_role("button", name="Grant").click()
        expect(operator.page.get_by_role("status").filter(has_text=email)).to_have_text(
            f"{email} now has 23 credits."  # 20, less the running job's 2, plus 5
        )
        expect(operator.page.locator("#jobs-today")).not_to_have_text("0")
        expect(operator.page.locator("svg.chart").first).to_be_visible()
        operator.shoot("dashboard")
        operator.shoot_phone("dashboard")

        # The button says what cancelling costs now: the model has started, half is kept.
        expect(page.locator("#job-cancel-terms")).to_have_text(
            "The model has started: cancelling stops it and keeps 1 credit of 2."
        )
        page.get_by_role("button", name="Cancel").click()
        expect(page.locator("#job-stage")).to_have_text("Cancelled; 1 credit refunded.")
        expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
        opened = tab.urls + operator.urls + [socket.url for socket in sockets]
        assert [url for url in opened if key in url] == []
        assert [url for url in operator.urls if stack.admin_key in url] == []
        tab.record.assert_clean()
        operator.record.assert_clean()
    finally:
        operator.close()
        tab.close()


def test_the_job_page_says_what_the_quality_check_found_beside_the_slider(
    faults: Stack, browser: Browser, screenshots: Path
) -> None:
    stack = faults
    # A portrait of someone other than the astronaut, whose face the endpoint's fault pastes.
    portrait = jpeg(lfw_portraits(3)[2].image)
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    tab = Tab(browser, stack.api_url, screenshots)
    try:
        page = tab.page
        tab.sign_in(key)
        faithful = upload(page, portrait)
        expect(page.locator("#job-stage")).to_have_text("Done · 100%")
        quality = _job(stack, key, faithful)["quality"]
        assert (quality["verdict"], quality["faces_found"]) == ("passed", 1)
        # The words sit right after the before/after slider, in the API's plain sentence.
        note = page.locator("figure.compare + #job-quality")
        expect(note).to_have_attribute("data-verdict", "passed")
        expect(note).to_contain_text(quality["summary"])
        expect(note).to_contain_text("1 face compared")
        expect(page.get_by_role("alert")).to_have_count(0)
        tab.shoot("job-quality-passed")

        # Another person's face on every try: delivered, flagged after the second try.
        stack.set_faults(different_face=1.0)
        page.get_by_role("link", name="Upload").click()
        expect(page.get_by_role("heading", name="Restore a photo")).to_be_visible()
        flagged = upload(page, portrait)
        expect(page.locator("#job-stage")).to_have_text("Done · 100%")
        quality = _job(stack, key, flagged)["quality"]
        assert (quality["verdict"], quality["tries"]) == ("flagged", 2)
        note = page.locator("figure.compare + #job-quality")
        expect(note).to_have_attribute("data-verdict", "flagged")
        expect(note).to_have_attribute("role", "alert")
        expect(note).to_contain_text("The faces may differ from the original")
        expect(note).to_contain_text("made in 2 tries")
        tab.shoot("job-quality-flagged")
        tab.shoot_phone("job-quality-flagged")
        tab.record.assert_clean()
    finally:
        tab.close()


def test_three_candidates_are_shown_side_by_side_and_one_is_chosen(
    stack: Stack, browser: Browser, screenshots: Path
) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    tab = Tab(browser, stack.api_url, screenshots)
    try:
        page = tab.page
        tab.sign_in(key)
        page.get_by_label("Candidates to choose from").fill("3")
        expect(page.locator("#cost-summary")).to_contain_text("Costs 4 credits")
        job_id = upload(page, faded_photo(360, 270))
        expect(page.locator("#job-stage")).to_have_text("Done · 100%")
        cards = page.locator("#job-candidates figure.candidate")
        expect(cards).to_have_count(3)
        boxes = [cards.nth(i).bounding_box() for i in range(3)]
        assert all(box is not None for box in boxes)
        # Side by side at desktop width: one row.
        assert len({round(box["y"]) for box in boxes if box is not None}) == 1
        expect(cards.nth(0)).to_have_class(re.compile(r"\bchosen\b"))
        tab.shoot("job-candidates")
        cards.nth(1).get_by_role("button", name="Use this one").click()
        expect(page.locator("#job-candidates figure.candidate").nth(1)).to_have_class(
            re.compile(r"\bchosen\b")
        )
        chosen = [c["chosen"] for c in _job(stack, key, job_id)["candidates"]]
        assert chosen == [False, True, False]
    finally:
        tab.close()


def _wait_for(page: Page, condition: Callable[[], bool], what: str) -> None:
    """Let the browser run until `condition` holds; the deadline only guards against a hang."""
    guard = HangGuard(f"waiting until {what}", DEADLINE_MS / 1000)
    while not condition():
        guard.check()
        page.wait_for_timeout(50)


def _job(stack: Stack, key: str, job_id: str) -> Any:
    """The job as its owner reads it from the API."""
    with stack.client(key) as client:
        response = client.get(f"/v1/jobs/{job_id}")
    response.raise_for_status()
    return response.json()


def _api(stack: Stack, path: str) -> Any:
    response = httpx.get(
        f"{stack.api_url}{path}",
        headers={"Authorization": f"Bearer {stack.admin_key}"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()


def test_sign_up_by_the_emailed_link_then_restore_a_first_photo(
    stack: Stack, mail_catcher: MailCatcher, browser: Browser, screenshots: Path
) -> None:
    address = f"newcomer-{uuid.uuid4().hex[:8]}@example.org"
    tab = Tab(browser, stack.api_url, screenshots)
    try:
        page = tab.page
        page.goto("/")
        page.get_by_role("link", name="Sign up").click()
        page.get_by_label("Email").fill(address)
        page.get_by_role("button", name="Send me a link").click()
        expect(page.get_by_role("status")).to_contain_text("confirmation link is on its way")
        tab.shoot("sign-up")

        [email] = [m for m in messages(mail_catcher.folder) if m["To"] == address]
        found = re.search(r"https?://\S+/(#/confirm/[A-Za-z0-9_-]+)", email.get_content())
        assert found, email.get_content()
        # The link's fragment on this stack's address (the stack serves on a free port, not
        # the HEIRLOOM_API_URL the email names).
        page.goto(f"/{found.group(1)}")
        page.get_by_role("button", name="Create my account").click()
        key = page.locator("#new-api-key").inner_text()
        assert key.startswith("hl_")
        tab.shoot("sign-up-confirmed")
        page.get_by_role("button", name="Continue to Heirloom").click()
        expect(page.get_by_role("heading", name="Restore a photo")).to_be_visible()

        job_id = upload(page, faded_photo())
        expect(page.locator("#job-stage")).to_have_text("Done · 100%")
        with stack.client(key) as client:
            me = client.get("/v1/me").json()
            job = client.get(f"/v1/jobs/{job_id}").json()
        assert (me["email"], me["tier"]) == (address, "free")
        assert job["status"] == "completed"
        # The same link a second time is refused in words.
        tab.record.expect_refusal(410, r"/v1/signup/confirm$")
        page.goto(f"/{found.group(1)}")
        page.get_by_role("button", name="Create my account").click()
        expect(page.get_by_role("alert")).to_contain_text("already used")

        # The account page lists the packs on sale and (none yet) purchases.
        page.goto("/#/account")
        expect(page.locator("#packs")).to_contain_text("Forever tier")
        expect(page.locator("#purchases")).to_contain_text("No purchases yet.")
        tab.shoot("account-buy")
        tab.record.assert_clean()
    finally:
        tab.close()
