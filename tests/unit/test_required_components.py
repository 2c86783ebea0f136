"""A component CI requires turns its skips into failures; elsewhere they stay skips."""

from __future__ import annotations

import pytest

from tests.harness.required import REQUIRE_ENV, unavailable


def test_a_required_component_fails_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_ENV, "postgres, redis")
    with pytest.raises(pytest.fail.Exception, match=r"Redis is gone \(.*requires redis\)"):
        unavailable("redis", "Redis is gone")


def test_a_component_not_required_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_ENV, "postgres")
    with pytest.raises(pytest.skip.Exception, match="no chromium"):
        unavailable("browser", "no chromium")


def test_an_unknown_component_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_ENV, "postgress")
    with pytest.raises(pytest.UsageError, match="postgress"):
        unavailable("postgres", "no server")
