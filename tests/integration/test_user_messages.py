"""Plain words to users: whatever the provider does, `error.message` is the taxonomy's sentence.

HTTP statuses, hosts, RunPod's wording and exception names belong in logs, the job's internal
record and the Temporal failure; never in what the API shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from heirloom.config import FaultSettings
from heirloom.domain.errors import message_for
from heirloom.domain.tiers import Tier
from tests.conftest import Stack
from tests.harness.stack import serving
from tests.support import photo_bytes, submit, wait_final

# A model call that never starts must end within the test: two attempts of this many seconds.
MODEL_TIMEOUT_S = 5

# Every fault the local endpoint injects, each alone and for every request or job.
FAULTS: dict[str, dict[str, float]] = {
    "http_5xx": {"http_5xx": 1.0},
    "http_429": {"http_429": 1.0},
    "failed": {"failed": 1.0},
    "stuck_in_queue": {"stuck_in_queue": 1.0},
    "timeout": {"timeout": 1.0},
    "latency": {"latency_ms": 300},
    "execution": {"execution_ms": 500},
    # Output faults: the quality gate retries, then refunds (blank, cropped) or flags.
    "blank_output": {"blank_output": 1.0},
    "cropped_output": {"cropped_output": 1.0},
    "different_face": {"different_face": 1.0},
}

LEAKS = [
    re.compile(r"\b[1-5]\d\d\b"),  # an HTTP status
    re.compile(r"\bHTTP\b"),
    re.compile(r"RunPod answered|RunPod rejected|RunPod is unreachable", re.IGNORECASE),
    re.compile(r"127\.0\.0\.1|localhost|https?://|\w+\.\w+:\d+"),  # a host, URL or host:port
    re.compile(r"\b[A-Z]\w*(Error|Exception|Timeout)\b"),  # a Python exception name
    re.compile(r"Traceback|injected fault|\bstatus/|\brun\b"),  # provider and request wording
]


def test_every_injectable_fault_is_covered() -> None:
    covered = {name for fault in FAULTS.values() for name in fault}
    # Not faults a job can end by: the endpoint's request limit with its Retry-After, which
    # delay a job and never fail it (tests/integration/test_runpod_traffic.py), and how the
    # endpoint answers a cancel (tests/integration/test_gpu_cancel.py), which ends it cancelled.
    never_end_a_job = {"rate_limit_per_s", "retry_after_s", "cancel_mode"}
    assert covered == set(FaultSettings.model_fields) - never_end_a_job


@pytest.fixture
def api_url(faults: Stack) -> Iterator[str]:
    """The stack's API with a short model timeout, so a job stuck at RunPod ends in seconds."""
    settings = faults.settings.model_copy(update={"model_start_to_close_s": MODEL_TIMEOUT_S})
    with serving(settings, pool_size=2) as served:
        yield served.api_url


def leaks_in(text: str) -> list[str]:
    return [match.group(0) for pattern in LEAKS for match in [pattern.search(text)] if match]


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
def test_no_provider_detail_reaches_a_users_error_message(
    faults: Stack, api_url: str, fault: str
) -> None:
    stack = faults
    _, key = stack.new_user(tier=Tier.FREE, credits=20)
    stack.set_faults(**FAULTS[fault])
    with httpx.Client(
        base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        response = submit(client, photo_bytes(320, 240))
        assert response.status_code == 202, response.text
        job: dict[str, Any] = wait_final(client, response.json()["id"])
    error = job["error"]
    if error is None:
        assert job["status"] == "completed", job
        return
    assert job["status"] == "failed", job
    assert leaks_in(error["message"]) == [], error
    assert error["message"] == message_for(error["code"]), error
    assert "refunded" in error["message"]
    assert job["credits_refunded"] == job["credits_charged"]


def test_the_leak_patterns_catch_what_the_provider_client_raises() -> None:
    """The patterns above must recognise the detail RunPodService puts in its exceptions."""
    for detail in (
        "RunPod answered HTTP 503 to POST run",
        "RunPod is unreachable (GET status/abc): ConnectionError(...)",
        "RunPod rejected POST run with HTTP 400: bad input",
        "HTTPConnectionPool(host='127.0.0.1', port=8300): Max retries exceeded",
        "ReadTimeout while polling",
    ):
        assert leaks_in(detail), detail
    for code in ("model_unavailable", "model_failed", "model_timed_out", "internal_error"):
        assert leaks_in(message_for(code)) == [], code
