"""Cost accounting against the local endpoint: every model attempt is priced at its RunPod
execution time, retries included, and reports add up to their jobs."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from heirloom.activities.restoration import RestorationActivities
from heirloom.config import FaultSettings, Settings
from heirloom.db.models import utcnow
from heirloom.domain.messages import JobRef, ModelRequest
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.money.credits import NewJob
from heirloom.services.quality.processes import GateProcesses
from heirloom.services.storage.keys import job_key
from tests.conftest import Stack
from tests.harness.stack import local_endpoint
from tests.support import photo_bytes, submit, wait_final

API_KEY = "costs-key"
# A price that makes rounding visible if the arithmetic were wrong.
PRICE_PER_S = 0.00137


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[tuple[Services, httpx.Client]]:
    """Services on a fresh database priced at PRICE_PER_S, and a local endpoint."""
    home = tmp_path / "home"
    with (
        local_endpoint(Settings(home=home, runpod_api_key=API_KEY)) as url,
        httpx.Client(base_url=url) as admin,
    ):
        settings = Settings(
            home=home,
            database_url=database_url,
            runpod_api_key=API_KEY,
            runpod_base_url=f"{url}/v2",
            runpod_poll_interval_s=0.05,
            gpu_price_per_s_usd=PRICE_PER_S,
            credit_price_usd=0.25,
        )
        services = Services.build(settings)
        try:
            yield services, admin
        finally:
            services.close()


def new_request(services: Services) -> ModelRequest:
    user = services.accounts.create(
        email=f"{uuid.uuid4().hex[:10]}@example.com", tier=Tier.PAID, credits=10
    ).user
    job = JobRef(job_id=uuid.uuid4().hex, user_id=user.id, operations="restore")
    services.credits.reserve(
        NewJob(
            job_id=job.job_id,
            user_id=user.id,
            operations=job.operations,
            tier=Tier.PAID,
            original_key=job_key(user.id, job.job_id, "original", "jpg"),
        )
    )
    input_key = job_key(user.id, job.job_id, "input", "jpg")
    services.storage.put(input_key, photo_bytes(96, 64), content_type="image/jpeg")
    return ModelRequest(job=job, input_key=input_key)


def run_attempt(services: Services, request: ModelRequest, number: int) -> None:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=number)
    # The model step never checks quality: the gate's processes are never started.
    gate = GateProcesses(services.settings.quality, processes=1)
    asyncio.run(env.run(RestorationActivities(services, gate).run_model, request))


def test_a_job_retried_twice_records_three_priced_attempts(
    world: tuple[Services, httpx.Client],
) -> None:
    services, admin = world
    start = utcnow() - timedelta(seconds=1)
    request = new_request(services)
    admin.put("/_admin/faults", json=FaultSettings(failed=1.0, execution_ms=150).model_dump())
    for number in (1, 2):
        with pytest.raises(ApplicationError) as failed:
            run_attempt(services, request, number)
        assert failed.value.type == "model_failed"
    admin.put("/_admin/faults", json=FaultSettings(execution_ms=150).model_dump())
    run_attempt(services, request, 3)

    attempts = services.model_runs.attempts([request.job.job_id])
    assert [a.status for a in attempts] == ["FAILED", "FAILED", "COMPLETED"]
    for row in attempts:
        reported = services.runpod.status(row.runpod_job_id).execution_time_ms
        assert reported is not None
        assert reported >= 150
        assert row.execution_ms == reported
        assert row.cost_usd == pytest.approx(reported / 1000 * PRICE_PER_S)

    report = services.costs.report("day", start, utcnow() + timedelta(seconds=1))
    (job,) = services.costs.job_costs(start, utcnow() + timedelta(seconds=1))
    assert job.attempts == 3
    assert job.cost_usd == pytest.approx(sum(a.cost_usd or 0 for a in attempts))
    assert report.totals.attempts == 3
    assert report.totals.cost_usd == pytest.approx(job.cost_usd)
    assert report.totals.gpu_seconds == pytest.approx(
        sum(a.execution_ms or 0 for a in attempts) / 1000
    )
    # The job is still charged (2 credits), worth 0.25 USD each; no money was received in
    # this database, so revenue is 0 and the margin is minus the GPU cost.
    assert report.totals.credits_value_usd == pytest.approx(0.5)
    assert report.totals.revenue_usd == 0
    assert report.totals.margin_usd == pytest.approx(-job.cost_usd)


def test_the_cost_report_adds_up_to_its_jobs(stack: Stack) -> None:
    start = utcnow()
    _, key = stack.new_user(tier=Tier.PAID, credits=50)
    with stack.client(key) as client:
        ids = [
            submit(client, photo_bytes(160, 120), ops).json()["id"]
            for ops in ("restore", "colorize", "restore,colorize")
        ]
        jobs = [wait_final(client, job_id) for job_id in ids]
    assert [job["status"] for job in jobs] == ["completed"] * 3
    end = utcnow() + timedelta(seconds=1)

    with stack.client(stack.admin_key) as admin:
        response = admin.get(
            "/v1/admin/reports/costs",
            params={"period": "day", "from": start.isoformat(), "to": end.isoformat()},
        )
        refused = stack.client(key).get("/v1/admin/reports/costs")
    assert refused.status_code == 403
    assert response.status_code == 200, response.text
    report = response.json()

    per_job = stack.services.costs.job_costs(start, end)
    assert {job.job_id for job in per_job} == set(ids)
    attempts = stack.services.model_runs.attempts(ids)
    assert len(attempts) >= 3
    totals = report["totals"]
    assert totals["jobs"] == 3
    assert totals["completed"] == 3
    assert totals["attempts"] == len(attempts)
    assert totals["cost_usd"] == pytest.approx(sum(a.cost_usd or 0 for a in attempts))
    assert totals["cost_usd"] == pytest.approx(sum(job.cost_usd for job in per_job))
    credits = sum(job["credits_charged"] for job in jobs)
    assert totals["credits_value_usd"] == pytest.approx(credits * stack.settings.credit_price_usd)
    assert totals["by_operation"] == {"restore": 1, "colorize": 1, "restore,colorize": 1}
    assert totals["by_tier"] == {"paid": 3}
    assert totals["gpu_seconds_per_job_p50"] is not None
    assert sum(bucket["jobs"] for bucket in report["buckets"]) == 3
    assert sum(b["cost_usd"] for b in report["buckets"]) == pytest.approx(totals["cost_usd"])
    assert report["forecast"]["cost_forecast_usd"] >= report["forecast"]["cost_to_date_usd"]


def test_usage_analytics_count_jobs_users_stages_and_failures(stack: Stack) -> None:
    start = utcnow()
    _, key = stack.new_user(tier=Tier.FOREVER, credits=50)
    with stack.client(key) as client:
        ids = [
            submit(client, photo_bytes(160, 120), ops).json()["id"]
            for ops in ("restore", "restore")
        ]
        for job_id in ids:
            assert wait_final(client, job_id)["status"] == "completed"
    window = {"from": start.isoformat(), "to": (utcnow() + timedelta(seconds=1)).isoformat()}
    with stack.client(stack.admin_key) as admin:
        per_day = admin.get("/v1/admin/analytics/jobs", params=window).json()
        users = admin.get("/v1/admin/analytics/users", params=window).json()
        stages = admin.get("/v1/admin/analytics/stages", params=window).json()
        failures = admin.get("/v1/admin/analytics/failures", params=window).json()
    assert [(r["tier"], r["operations"], r["jobs"]) for r in per_day] == [("forever", "restore", 2)]
    assert users == {"forever": 1}
    by_stage = {s["stage"]: s for s in stages}
    assert by_stage["run"]["count"] == 2
    assert by_stage["model_execution"]["count"] >= 2
    assert by_stage["model_execution"]["p95_s"] >= by_stage["model_execution"]["p50_s"] > 0
    assert failures["jobs_ended"] == 2
    assert failures["failure_rate"] == 0
    assert failures["failures_by_code"] == {}
