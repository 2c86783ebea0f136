"""What a browser page logged and loaded, for every browser test: a console error, an uncaught
exception or an answer of 400 or more that the test did not announce fails the test.

A test announces the refusals its story contains (a wrong key on purpose, a revoked link's 410)
with `expect_refusal`; the browser's own "Failed to load resource" line for such an answer is
excused with it, and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Response

# Chromium's console line for any answer of 400 or more; the answer itself is checked instead.
_FAILED_LOAD = re.compile(r"^Failed to load resource: the server responded with a status of (\d+)")


@dataclass
class Refusal:
    status: int
    url: re.Pattern[str]


@dataclass
class PageRecord:
    """Console messages, page errors and answers of every page of one browser context."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    answers: list[tuple[int, str]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    expected: list[Refusal] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        """Record every page the context has or will open, and every request it makes."""
        context.on("page", self._watch_page)
        context.on("request", lambda request: self.requests.append(request.url))
        context.on("response", self._answer)
        for page in context.pages:
            self._watch_page(page)

    def expect_refusal(self, status: int, url: str) -> None:
        """An answer `status` to a URL matching the regular expression `url` is the story."""
        self.expected.append(Refusal(status, re.compile(url)))

    def _watch_page(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        failed = _FAILED_LOAD.match(message.text)
        url = message.location.get("url", "") if message.location else ""
        if failed and self._announced(int(failed.group(1)), url):
            return
        self.console_errors.append(f"{url}: {message.text}")

    def _answer(self, response: Response) -> None:
        self.answers.append((response.status, response.url))

    def _announced(self, status: int, url: str) -> bool:
        return any(r.status == status and r.url.search(url) for r in self.expected)

    def unexpected_answers(self) -> list[tuple[int, str]]:
        return [(s, u) for s, u in self.answers if s >= 400 and not self._announced(s, u)]

    def assert_clean(self) -> None:
        """No console error, no uncaught exception and no unannounced refusal so far."""
        assert self.console_errors == [], f"console errors: {self.console_errors}"
        assert self.page_errors == [], f"uncaught errors: {self.page_errors}"
        assert self.unexpected_answers() == [], f"unexpected answers: {self.unexpected_answers()}"
