"""/metrics of the API and of a worker: Prometheus text that parses, with the named families,
and values that move when a job runs; the worker's Temporal runtime exports the SDK's own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from heirloom.domain.tiers import Tier
from heirloom.worker.main import serve_metrics
from tests.conftest import ServedApi, Stack
from tests.harness.serving import free_port
from tests.harness.stack import STACK_SETTINGS
from tests.support import photo_bytes, submit, wait_final

API_FAMILIES = {
    "heirloom_http_request_duration_seconds",
    "heirloom_jobs",
    "heirloom_credits_reserved",
    "heirloom_credits_refunded",
    "heirloom_gpu_jobs_in_flight",
    "heirloom_queue_backlog_jobs",
    "heirloom_db_pool_connections",
    "heirloom_runpod_request_duration_seconds",
    "heirloom_runpod_errors",
}


ServeApi = Callable[..., ServedApi]
METRICS_AUTH = {"Authorization": f"Bearer {STACK_SETTINGS['metrics_token']}"}


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by (sample name, sorted labels)."""
    response = httpx.get(url, timeout=10, headers=METRICS_AUTH)
    assert response.status_code == 200, response.text
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def families(url: str) -> set[str]:
    text = httpx.get(url, timeout=10, headers=METRICS_AUTH).text
    return {f.name for f in text_string_to_metric_families(text)}


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_api_metrics_parse_and_move_when_a_job_runs(stack: Stack) -> None:
    url = f"{stack.api_url}/metrics"
    assert not API_FAMILIES - families(url)
    before = scrape(url)
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client:
        job = wait_final(client, submit(client, photo_bytes(160, 120)).json()["id"])
    assert job["status"] == "completed"
    after = scrape(url)

    done = {"status": "completed", "tier": "paid"}
    assert value(after, "heirloom_jobs", **done) == value(before, "heirloom_jobs", **done) + 1
    reserved = "heirloom_credits_reserved_total"
    assert value(after, reserved) == value(before, reserved) + job["credits_charged"]
    posted = {"method": "POST", "route": "/v1/jobs", "status": "202"}
    count = "heirloom_http_request_duration_seconds_count"
    assert value(after, count, **posted) == value(before, count, **posted) + 1
    polled = {"method": "GET", "route": "/v1/jobs/{job_id}", "status": "200"}
    assert value(after, count, **polled) > value(before, count, **polled)
    run = "heirloom_runpod_request_duration_seconds_count"
    assert value(after, run, operation="run") == value(before, run, operation="run") + 1


def test_worker_metrics_and_temporal_runtime_metrics(stack: Stack) -> None:
    ports = free_port(), free_port()
    settings = stack.settings.model_copy(
        update={"worker_metrics_port": ports[0], "worker_temporal_metrics_port": ports[1]}
    )
    runtime = serve_metrics(settings)
    assert runtime is not None
    worker_url = f"http://127.0.0.1:{ports[0]}/metrics"
    before = scrape(worker_url)
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client:
        job = wait_final(client, submit(client, photo_bytes(160, 120)).json()["id"])
    assert job["status"] == "completed"
    after = scrape(worker_url)
    attempts = "heirloom_model_attempts_total"
    assert value(after, attempts, status="COMPLETED") == (
        value(before, attempts, status="COMPLETED") + 1
    )
    assert value(after, "heirloom_gpu_seconds_total") > value(before, "heirloom_gpu_seconds_total")
    assert value(after, "heirloom_gpu_cost_usd_total") > value(
        before, "heirloom_gpu_cost_usd_total"
    )

    async def call_temporal() -> None:
        client = await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace, runtime=runtime
        )
        await client.count_workflows()

    asyncio.run(call_temporal())
    temporal = families(f"http://127.0.0.1:{ports[1]}/metrics")
    assert any(name.startswith("temporal_request") for name in temporal), sorted(temporal)


def test_api_metrics_are_404_without_their_token(serve_api: ServeApi) -> None:
    unset = serve_api()
    assert httpx.get(f"{unset.url}/metrics", timeout=10).status_code == 404
    anything = {"Authorization": "Bearer anything"}
    assert httpx.get(f"{unset.url}/metrics", headers=anything, timeout=10).status_code == 404

    api = serve_api(metrics_token="the-metrics-token")
    for headers in ({}, anything, {"Authorization": "Basic the-metrics-token"}):
        response = httpx.get(f"{api.url}/metrics", headers=headers, timeout=10)
        assert response.status_code == 404, headers
        assert response.json()["error"]["code"] == "not_found"
    right = {"Authorization": "Bearer the-metrics-token"}
    response = httpx.get(f"{api.url}/metrics", headers=right, timeout=10)
    assert response.status_code == 200
    assert "heirloom_jobs" in response.text


def test_api_metrics_are_reused_within_their_cache_period(serve_api: ServeApi) -> None:
    api = serve_api(metrics_token="tok", metrics_cache_s=60.0)
    right = {"Authorization": "Bearer tok"}
    first = httpx.get(f"{api.url}/metrics", headers=right, timeout=10).text
    # Requests move the request histogram and add a user; the cached scrape does not move.
    api.new_user()
    assert httpx.get(f"{api.url}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{api.url}/metrics", headers=right, timeout=10).text == first

    fresh = serve_api(metrics_token="tok", metrics_cache_s=0.0)
    before = httpx.get(f"{fresh.url}/metrics", headers=right, timeout=10).text
    assert httpx.get(f"{fresh.url}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{fresh.url}/metrics", headers=right, timeout=10).text != before
