"""/healthz, /readyz and `heirloom status` against the running stack and with parts missing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

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


def _details(url: str, admin_key: str) -> tuple[int, dict[str, dict[str, object]]]:
    """/readyz's status code and, from the admin route, which checks failed and why."""
    public = httpx.get(f"{url}/readyz", timeout=30)
    assert public.json() == {"status": "ready" if public.status_code == 200 else "not_ready"}
    headers = {"Authorization": f"Bearer {admin_key}"}
    admin = httpx.get(f"{url}/v1/admin/health", headers=headers, timeout=30)
    assert admin.status_code == 200, admin.text
    body = admin.json()
    assert body["status"] == public.json()["status"]
    return public.status_code, body["checks"]


def test_readyz_is_200_when_everything_serves(stack: Stack) -> None:
    code, checks = _details(stack.api_url, stack.admin_key)
    assert code == 200, checks
    assert set(checks) == CHECKS
    assert all(check["ok"] for check in checks.values())
    assert checks["worker:free"]["detail"] == "ok (heirloom-free)"


def test_readyz_is_503_when_the_runpod_endpoint_is_down(
    stack: Stack, api_without_runpod: str
) -> None:
    code, checks = _details(api_without_runpod, stack.admin_key)
    assert code == 503, checks
    failing = {name for name, check in checks.items() if not check["ok"]}
    assert failing == {"runpod"}
    # Plain words only: the connection error with its host and port goes to the log.
    assert checks["runpod"]["detail"] == "unreachable"


def test_readyz_is_503_when_no_worker_polls_a_tier(stack: Stack, api_without_workers: str) -> None:
    code, checks = _details(api_without_workers, stack.admin_key)
    assert code == 503, checks
    failing = {name for name, check in checks.items() if not check["ok"]}
    assert failing == {f"worker:{t.value}" for t in Tier}
    assert checks["worker:paid"]["detail"] == "no worker polls heirloom-paid"


def test_a_flood_of_readyz_costs_one_runpod_request_per_cache_period(stack: Stack) -> None:
    def health_requests() -> int:
        requests: dict[str, int] = stack.runpod_stats()["requests"]  # type: ignore[assignment]
        return requests["health"]

    for url in serve_with(stack, readiness_cache_s=60.0):
        before = health_requests()

        def call(n: int, url: str = url) -> list[int]:
            with httpx.Client(base_url=url, timeout=30) as client:
                return [client.get("/readyz").status_code for _ in range(n)]

        # 1,000 requests from 8 threads at once: the first ones wait for one shared check.
        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = [code for batch in pool.map(call, [125] * 8) for code in batch]
        assert codes == [200] * 1000
        assert health_requests() - before == 1


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
