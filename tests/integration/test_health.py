"""/healthz, /readyz and `heirloom status` against the running stack and with parts missing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from heirloom import cli
from heirloom.config import Settings
from heirloom.domain.tiers import Tier
from tests.conftest import IDLE_NAMESPACE, Stack
from tests.harness.serving import free_port
from tests.harness.stack import serving

CHECKS = {"database", "storage", "runpod", "temporal"} | {f"worker:{t.value}" for t in Tier}


def serve_with(stack: Stack, **changes: object) -> Iterator[str]:
    """The stack's API with some settings changed, on its own services; yields its URL."""
    with serving(stack.settings.model_copy(update=changes), pool_size=2) as served:
        yield served.api_url


@pytest.fixture
def api_without_runpod(stack: Stack) -> Iterator[str]:
    yield from serve_with(stack, runpod_base_url=f"http://127.0.0.1:{free_port()}/v2")


@pytest.fixture
def api_without_workers(stack: Stack) -> Iterator[str]:
    yield from serve_with(stack, temporal_namespace=IDLE_NAMESPACE)


def test_healthz_answers_without_a_key(stack: Stack) -> None:
    with stack.client() as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_everything_serves(stack: Stack) -> None:
    with stack.client() as client:
        response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == CHECKS
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["worker:free"]["detail"] == "ok (heirloom-free)"


def test_readyz_is_503_when_the_runpod_endpoint_is_down(api_without_runpod: str) -> None:
    response = httpx.get(f"{api_without_runpod}/readyz", timeout=30)
    body = response.json()
    assert response.status_code == 503, body
    assert body["status"] == "not_ready"
    failing = {name for name, check in body["checks"].items() if not check["ok"]}
    assert failing == {"runpod"}
    # Plain words only: the connection error with its host and port goes to the log.
    assert body["checks"]["runpod"]["detail"] == "unreachable"


def test_readyz_is_503_when_no_worker_polls_a_tier(api_without_workers: str) -> None:
    response = httpx.get(f"{api_without_workers}/readyz", timeout=30)
    body = response.json()
    assert response.status_code == 503, body
    failing = {name for name, check in body["checks"].items() if not check["ok"]}
    assert failing == {f"worker:{t.value}" for t in Tier}
    assert body["checks"]["worker:paid"]["detail"] == "no worker polls heirloom-paid"


def _environment(settings: Settings) -> dict[str, str]:
    return {
        "HEIRLOOM_HOME": str(settings.home),
        "HEIRLOOM_DATABASE_URL": settings.resolved_database_url,
        "HEIRLOOM_TEMPORAL_ADDRESS": settings.temporal_address,
        "HEIRLOOM_TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "HEIRLOOM_RUNPOD_BASE_URL": settings.runpod_base_url,
        "HEIRLOOM_RUNPOD_API_KEY": settings.runpod_api_key,
    }


def test_status_prints_what_readyz_reports(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in _environment(stack.settings).items():
        monkeypatch.setenv(name, value)
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "ready"
    assert "worker:forever" in out

    assert cli.main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "ready"

    monkeypatch.setenv("HEIRLOOM_TEMPORAL_NAMESPACE", IDLE_NAMESPACE)
    assert cli.main(["status"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "NOT READY"
    assert "no worker polls heirloom-free" in out
