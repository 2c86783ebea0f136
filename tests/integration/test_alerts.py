"""Alert rules evaluated by the alerts activity against real parts: a database, the Temporal
dev server's task queues and a local RunPod endpoint. Each incident fires once and resolves."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleDescription
from temporalio.testing import ActivityEnvironment

from heirloom.activities.alerts import AlertActivities
from heirloom.config import FaultSettings, Settings
from heirloom.db import migrate
from heirloom.domain.alerts import AlertsInput
from heirloom.domain.jobs import JobStatus
from heirloom.domain.periodic import Pace
from heirloom.domain.task_queues import OPS_TASK_QUEUE
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.jobs.store import ResultKeys
from heirloom.services.money.credits import NewJob
from heirloom.services.ops.alerts import AlertBook
from heirloom.services.storage.keys import job_key
from heirloom.worker.schedules import ensure_schedules
from heirloom.workflows.alerts import AlertsWorkflow
from tests.conftest import IDLE_NAMESPACE, Stack
from tests.harness.serving import free_port
from tests.harness.stack import local_endpoint
from tests.support import remove_schedules


@pytest.fixture
def fresh(stack: Stack, tmp_path: Path) -> Iterator[Services]:
    """Services on a fresh SQLite database, talking to the stack's Temporal and RunPod endpoint."""
    database_url = f"sqlite:///{tmp_path / 'alerts.db'}"
    migrate.upgrade(database_url)
    # Built anew, not copied: a copied Settings keeps the stack's resolved database URL.
    services = Services.build(
        Settings(
            home=tmp_path,
            database_url=database_url,
            temporal_address=stack.settings.temporal_address,
            temporal_namespace=stack.settings.temporal_namespace,
            runpod_api_key=stack.settings.runpod_api_key,
            runpod_base_url=stack.settings.runpod_base_url,
            alert_failure_rate=0.2,
            alert_failure_min_jobs=5,
        ),
        pool_size=2,
    )
    try:
        yield services
    finally:
        services.close()


def with_settings(services: Services, **changes: object) -> Services:
    """The same database and rules, other settings (a RunPod endpoint, say)."""
    return Services.build(services.settings.model_copy(update=changes), pool_size=2)


async def evaluate(activities: AlertActivities) -> set[tuple[str, str]]:
    report = await ActivityEnvironment().run(activities.evaluate_alerts, AlertsInput())
    return {(notice.key, notice.state) for notice in report.notices}


async def connect(services: Services, namespace: str | None = None) -> Client:
    settings = services.settings
    return await Client.connect(
        settings.temporal_address, namespace=namespace or settings.temporal_namespace
    )


def ended_jobs(services: Services, *, failed: int, completed: int) -> None:
    user = services.accounts.create(
        email=f"{uuid.uuid4().hex[:10]}@example.com", tier=Tier.PAID, credits=100
    ).user
    for n in range(failed + completed):
        job_id = uuid.uuid4().hex
        services.credits.reserve(
            NewJob(
                job_id=job_id,
                user_id=user.id,
                operations="restore",
                tier=Tier.PAID,
                original_key=job_key(user.id, job_id, "original", "jpg"),
            )
        )
        if n < failed:
            services.jobs.finish_unsuccessfully(
                job_id, JobStatus.FAILED, code="model_failed", message="failed"
            )
        else:
            services.jobs.complete(job_id, ResultKeys("i", "r", "t", "c", 10, 10))


def test_failure_rate_alert_fires_once_and_resolves(fresh: Services) -> None:
    async def scenario() -> None:
        activities = AlertActivities(fresh, await connect(fresh))
        ended_jobs(fresh, failed=4, completed=0)
        assert await evaluate(activities) == set(), "under the minimum number of jobs"
        ended_jobs(fresh, failed=1, completed=0)
        assert await evaluate(activities) == {("failure_rate", "firing")}
        assert await evaluate(activities) == set(), "one alert per incident"
        ended_jobs(fresh, failed=0, completed=30)  # 5 of 35 failed: 14%, under 20%
        assert await evaluate(activities) == {("failure_rate", "resolved")}

    asyncio.run(scenario())
    (incident,) = AlertBook(fresh.db).recent().rows
    assert incident.key == "failure_rate"
    assert incident.resolved_at is not None


def test_tier_without_worker_alert_fires_and_resolves(fresh: Services) -> None:
    async def scenario() -> None:
        idle = AlertActivities(fresh, await connect(fresh, IDLE_NAMESPACE))
        served = AlertActivities(fresh, await connect(fresh))
        unserved = {(f"no_worker:{tier.value}", "firing") for tier in Tier}
        assert await evaluate(idle) == unserved
        assert await evaluate(idle) == set()
        resolved = {(f"no_worker:{tier.value}", "resolved") for tier in Tier}
        assert await evaluate(served) == resolved

    asyncio.run(scenario())


def test_runpod_unreachable_alert_fires_and_resolves(fresh: Services) -> None:
    down = with_settings(fresh, runpod_base_url=f"http://127.0.0.1:{free_port()}/v2")
    try:

        async def scenario() -> None:
            client = await connect(fresh)
            assert await evaluate(AlertActivities(down, client)) == {("runpod_unhealthy", "firing")}
            assert await evaluate(AlertActivities(fresh, client)) == {
                ("runpod_unhealthy", "resolved")
            }

        asyncio.run(scenario())
    finally:
        down.close()


def test_runpod_without_idle_workers_and_a_growing_queue_fires_and_resolves(
    fresh: Services, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp("busy-endpoint")
    endpoint = Settings(
        home=home,
        runpod_api_key="busy-key",
        devstack_runpod_workers=1,
        faults=FaultSettings(failed=1.0, execution_ms=60_000),
    )
    with local_endpoint(endpoint) as url:
        busy = with_settings(fresh, runpod_api_key="busy-key", runpod_base_url=f"{url}/v2")
        submitted: list[str] = []

        def submit_one() -> None:
            submitted.append(busy.runpod.submit({"noop": True}, execution_timeout_s=120, ttl_s=600))

        async def scenario() -> None:
            activities = AlertActivities(busy, await connect(fresh))
            for _ in range(2):
                submit_one()
            assert await evaluate(activities) == set(), "growth needs an earlier sample"
            submit_one()
            assert await evaluate(activities) == {("runpod_unhealthy", "firing")}
            submit_one()
            assert await evaluate(activities) == set()
            for job_id in submitted:
                busy.runpod.cancel(job_id)
            assert await evaluate(activities) == {("runpod_unhealthy", "resolved")}

        try:
            asyncio.run(scenario())
        finally:
            busy.close()


def test_the_alerts_schedule_is_declared_on_the_ops_queue_evaluating_every_interval(
    stack: Stack,
) -> None:
    # In the namespace no worker polls: the run a declared schedule starts never runs there.
    settings = stack.settings.model_copy(
        update={"temporal_namespace": IDLE_NAMESPACE, "alerts_interval_s": 120}
    )

    async def declare() -> tuple[ScheduleDescription, list[Any]]:
        client = await Client.connect(settings.temporal_address, namespace=IDLE_NAMESPACE)
        await ensure_schedules(client, settings)
        try:
            description = await client.get_schedule_handle("heirloom-alerts").describe()
            action = description.schedule.action
            assert isinstance(action, ScheduleActionStartWorkflow)
            return description, await client.data_converter.decode(action.args, [AlertsInput])
        finally:
            await remove_schedules(client, settings)

    description, inputs = asyncio.run(declare())
    # One run an hour, evaluating every 120 s within it.
    assert [i.every for i in description.schedule.spec.intervals] == [timedelta(hours=1)]
    assert inputs == [AlertsInput(window_s=settings.alert_window_s, pace=Pace(120, 3600))]
    action = description.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == AlertsWorkflow.__name__
    assert action.task_queue == OPS_TASK_QUEUE
