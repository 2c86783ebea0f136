"""The in-process budget storage: the same verdicts as limits' own, without a thread per hit."""

from __future__ import annotations

import threading

import pytest

from heirloom.services.abuse.rate_limits import PrunedMemoryStorage, RateLimiter


def test_in_process_budgets_refuse_past_the_quota_and_start_no_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = PrunedMemoryStorage()
    storage.timer.join()  # the one limits' constructor starts
    limiter = RateLimiter(storage, namespace="test")
    started: list[threading.Thread] = []
    start = threading.Thread.start

    def counted(thread: threading.Thread) -> None:
        started.append(thread)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", counted)
    verdicts = [limiter.hit("upload", "3/minute", "user-1").allowed for _ in range(4)]
    others = [limiter.hit("upload", "3/minute", f"user-{n}").allowed for n in range(2, 40)]
    assert verdicts == [True, True, True, False]
    assert all(others)
    assert started == []
