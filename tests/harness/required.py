"""Skips that CI turns into failures: a missing component must not pass as a green run.

`HEIRLOOM_TEST_REQUIRE` names the components a run must have (comma-separated:
`postgres`, `redis`, `browser`, `dclint`, `gpu`; `.ci/run` requires all but `gpu`). A test
that cannot run for want of a required component fails with the reason; elsewhere (a laptop
without PostgreSQL) it skips with the same reason.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_ENV = "HEIRLOOM_TEST_REQUIRE"
COMPONENTS = frozenset({"postgres", "redis", "browser", "dclint", "gpu", "node"})


def required() -> frozenset[str]:
    """The components this run must have; an unknown name is a mistake, not a wish."""
    names = {n.strip() for n in os.environ.get(REQUIRE_ENV, "").split(",") if n.strip()}
    unknown = names - COMPONENTS
    if unknown:
        raise pytest.UsageError(
            f"{REQUIRE_ENV} names unknown components {sorted(unknown)}; known: {sorted(COMPONENTS)}"
        )
    return frozenset(names)


def unavailable(component: str, reason: str, *, module_level: bool = False) -> NoReturn:
    """Fail when the run requires `component`, skip otherwise; `reason` says what is missing."""
    assert component in COMPONENTS, component
    if component in required():
        pytest.fail(f"{reason} ({REQUIRE_ENV} requires {component})", pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)
