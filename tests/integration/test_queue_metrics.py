"""Queue metrics and worker health (issue 9): two workers share the queues, operators see
Temporal's backlog per priority and who polls each queue, and a scheduled workflow records a
snapshot of the GPU queue each minute, kept for its retention.

Two identified workers run the product's workers (one GPU slot each) in a namespace of their
own on the session's dev server, beside the stack's database and RunPod endpoint. The model
takes minutes there, so two jobs hold both GPU slots and a third waits in the GPU queue while
the tests look; the jobs are cancelled afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col
from temporalio.client import Client

from heirloom.db.models import QueueMetric, as_utc, utcnow
from heirloom.domain.jobs import Stage
from heirloom.domain.queue_metrics import QueueMetricsInput, SnapshotReport
from heirloom.domain.task_queues import EXPORT_TASK_QUEUE, GPU_TASK_QUEUE, OPS_TASK_QUEUE
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.quality.processes import GateProcesses
from heirloom.services.queue.positions import GpuQueue
from heirloom.services.queue.snapshots import QueueMetrics
from heirloom.worker.main import build_workers
from heirloom.workflows.queue_metrics import QueueMetricsWorkflow
from tests.conftest import QUEUES_NAMESPACE, Stack
from tests.harness.stack import serving
from tests.harness.workers import WorkerThread
from tests.support import photo_bytes, submit, wait_final, wait_until

IDENTITIES = ("worker-a@queues-test", "worker-b@queues-test")
# Far longer than the tests look; the jobs are cancelled, which stops the simulated GPU.
MODEL_MS = 300_000
FREE_PRIORITY = 4


class IdentifiedWorkers(WorkerThread):
    """The product's workers (worker/main.py build_workers) once per identity, in a thread with
    its own event loop: like several worker processes on the same queues."""

    ready_timeout_s = 30.0

    def __init__(self, services: Services, identities: tuple[str, ...]) -> None:
        super().__init__(services)
        self.identities = identities

    async def _main(self) -> None:
        settings = self.services.settings
        with (
            ThreadPoolExecutor(max_workers=16) as executor,
            GateProcesses(settings.quality, settings.worker_quality_processes) as gate,
        ):
            workers = []
            for identity in self.identities:
                client = await Client.connect(
                    settings.temporal_address,
                    namespace=settings.temporal_namespace,
                    identity=identity,
                )
                workers += build_workers(
                    client, self.services, executor, settings.worker_tiers, gate
                )
            async with contextlib.AsyncExitStack() as stack:
                for worker in workers:
                    await stack.enter_async_context(worker)
                self._ready.set()
                await asyncio.get_running_loop().run_in_executor(None, self._stop.wait)


@dataclass
class Held:
    """Two model steps on the GPUs (one per worker), one waiting in the GPU queue."""

    stack: Stack
    services: Services
    api_url: str
    running: list[str]
    waiting: str

    def admin(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.stack.admin_key}"}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=30)

    def temporal(self, call: Callable[[Client], Any]) -> Any:
        async def run() -> Any:
            client = await Client.connect(
                self.services.settings.temporal_address, namespace=QUEUES_NAMESPACE
            )
            return await call(client)

        return asyncio.run(run())


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; the deadline only guards against a hang."""
    wait_until(condition, what)


def gpu_queue_stats(held: Held) -> dict[str, Any]:
    with held.admin() as admin:
        response = admin.get("/v1/admin/queue")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def free_backlog(body: dict[str, Any]) -> int:
    [gpu] = [q for q in body["task_queues"] if q["task_queue"] == GPU_TASK_QUEUE]
    at = {p["priority_key"]: p["backlog"] for p in gpu["by_priority"]}
    return int(at.get(FREE_PRIORITY, 0))


# First: the held fixture below keeps the stack's RunPod endpoint slow while it lives.
def test_queue_shows_the_median_gpu_wait_of_the_last_hour(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.FREE)
    with stack.client(key) as client:
        job_id = submit(client, photo_bytes(160, 120, seed=320)).json()["id"]
        assert wait_final(client, job_id)["status"] == "completed"
        shown = client.get("/v1/queue").json()["tiers"]
    # The route's figure may be a few seconds old (cached); the service's is fresh.
    settings = stack.settings
    queue = GpuQueue(
        stack.services.db,
        pool_size=settings.gpu_pool_size,
        default_model_s=settings.gpu_default_model_s,
    )
    fresh = {t.tier: t for t in queue.tiers(utcnow())}
    p50 = fresh[Tier.FREE.value].p50_wait_s
    assert p50 is not None
    assert p50 >= 0
    assert all("p50_wait_s" in tier for tier in shown)


@pytest.fixture(scope="module")
def held(stack: Stack) -> Iterator[Held]:
    settings = stack.settings.model_copy(
        update={
            "temporal_namespace": QUEUES_NAMESPACE,
            "worker_tiers": [Tier.FREE],
            "worker_gpu_slots": 1,
            # Admission exactly the slots, so the third job waits in the GPU queue.
            "gpu_prefetch_per_endpoint": 0,
            "worker_graceful_shutdown_s": 1.0,
        }
    )
    jobs: list[tuple[str, str]] = []
    with serving(
        settings, worker=lambda services: IdentifiedWorkers(services, IDENTITIES), pool_size=8
    ) as served:
        services, api_url = served.services, served.api_url
        stack.set_faults(execution_ms=MODEL_MS)
        try:
            # Two users: the free tier's limits are per user.
            first, second = (stack.new_user(tier=Tier.FREE)[1] for _ in range(2))
            for seed, key in enumerate([first, first, second]):
                with httpx.Client(
                    base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
                ) as client:
                    response = submit(client, photo_bytes(160, 120, seed=300 + seed))
                    assert response.status_code == 202, response.text
                    jobs.append((response.json()["id"], key))
            ids = [job_id for job_id, _ in jobs]

            def stages() -> dict[str, str]:
                return {j: services.jobs.get(j).stage for j in ids}

            def settled() -> bool:
                seen = sorted(stages().values())
                busy = [services.jobs.get(j).runpod_job_id for j in ids]
                return seen == [Stage.PROCESSING, Stage.PROCESSING, Stage.WAITING_FOR_GPU] and (
                    sum(1 for r in busy if r) == 2
                )

            wait_for(settled, "two model steps on the GPUs and one waiting")
            now = stages()
            built = Held(
                stack,
                services,
                api_url,
                running=[j for j in ids if now[j] == Stage.PROCESSING],
                waiting=next(j for j in ids if now[j] == Stage.WAITING_FOR_GPU),
            )
            # Temporal's statistics are approximate and refreshed on their own schedule.
            wait_for(
                lambda: free_backlog(gpu_queue_stats(built)) >= 1,
                "Temporal to count the waiting model step",
            )
            yield built
        finally:
            for job_id, key in jobs:
                with httpx.Client(
                    base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
                ) as client:
                    client.post(f"/v1/jobs/{job_id}/cancel")
                    assert wait_final(client, job_id)["status"] == "cancelled"
            stack.set_faults()


def test_two_workers_on_the_same_queues_both_take_model_steps(held: Held) -> None:
    async def model_step(client: Client, job_id: str) -> Any:
        description = await client.get_workflow_handle(job_id).describe()
        [step] = [
            activity
            for activity in description.raw_description.pending_activities
            if activity.activity_type.name == "run_model"
        ]
        return step

    async def identities(client: Client) -> set[str]:
        return {(await model_step(client, j)).last_worker_identity for j in held.running}

    async def waiting_started(client: Client) -> bool:
        return bool((await model_step(client, held.waiting)).HasField("last_started_time"))

    # One GPU slot each: the second model step could only go to the other worker, and the
    # third waits in the GPU queue for a slot.
    assert held.temporal(identities) == set(IDENTITIES)
    assert not held.temporal(waiting_started)


def test_admin_queue_shows_the_gpu_backlog_by_priority_and_the_jobs_in_flight(
    held: Held,
) -> None:
    body = gpu_queue_stats(held)
    assert body["gpu_in_flight"] >= 2
    assert body["runpod_jobs_in_flight"] >= 2
    queues = {(q["task_queue"], q["task_type"]): q for q in body["task_queues"]}
    assert set(queues) == {(GPU_TASK_QUEUE, "activity")} | {
        (tier.task_queue, kind) for tier in Tier for kind in ("workflow", "activity")
    }
    gpu = queues[(GPU_TASK_QUEUE, "activity")]
    assert gpu["backlog"] >= 1
    assert gpu["backlog_age_s"] > 0
    assert gpu["pollers"] == len(IDENTITIES)
    assert free_backlog(body) >= 1
    # No worker polls the paid tier's queue in this namespace.
    assert queues[(Tier.PAID.task_queue, "workflow")]["pollers"] == 0
    # The GPU pool of one endpoint (the single-endpoint settings), both model steps on it.
    [endpoint] = body["endpoints"]
    assert endpoint["id"] == held.stack.settings.runpod_endpoint_id
    assert endpoint["in_flight"] >= 2
    assert endpoint["price_per_s_usd"] == held.stack.settings.gpu_price_per_s_usd
    assert endpoint["failing"] is False


def test_admin_health_lists_the_workers_of_each_served_queue(held: Held) -> None:
    with held.admin() as admin:
        response = admin.get("/v1/admin/health")
    assert response.status_code == 200, response.text
    body = response.json()
    queues = {q["task_queue"]: q for q in body["task_queues"]}
    for served in (Tier.FREE.task_queue, GPU_TASK_QUEUE, OPS_TASK_QUEUE, EXPORT_TASK_QUEUE):
        assert queues[served]["alive"], queues[served]
        identities = {p["identity"] for p in queues[served]["pollers"] if p["alive"]}
        assert identities == set(IDENTITIES), (served, queues[served])
    kinds = {p["task_type"] for p in queues[Tier.FREE.task_queue]["pollers"]}
    assert kinds == {"workflow", "activity"}
    for unserved in (Tier.PAID.task_queue, Tier.FOREVER.task_queue):
        assert queues[unserved] == {"task_queue": unserved, "alive": False, "pollers": []}
    # The readiness checks are there too: this namespace serves no paid worker.
    assert body["status"] == "not_ready"
    assert not body["checks"]["worker:paid"]["ok"]
    assert body["checks"]["worker:free"]["ok"]


def test_metrics_snapshot_records_the_gpu_queue_and_prunes_old_rows(held: Held) -> None:
    now = utcnow()
    marker = 90 + uuid.uuid4().int % 1000  # a priority key no tier uses: these rows only
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    with held.services.db.session() as session:
        for taken_at in (old, recent):
            session.add(
                QueueMetric(
                    taken_at=taken_at, tier="free", priority_key=marker, waiting=1, on_gpu=0
                )
            )

    async def run(client: Client) -> SnapshotReport:
        return await client.execute_workflow(
            QueueMetricsWorkflow.run,
            QueueMetricsInput(retention_days=30),
            id=f"test-queue-metrics-{uuid.uuid4().hex}",
            task_queue=OPS_TASK_QUEUE,
            execution_timeout=timedelta(seconds=60),
        )

    report: SnapshotReport = held.temporal(run)
    assert report.rows >= len(Tier)
    # What the run deleted is read from the table: `pruned` counts the last attempt's
    # deletions, and an attempt retried after its delete committed (a loaded run) counts 0.
    with held.services.db.session() as session:
        kept = session.execute(
            sa.select(col(QueueMetric.taken_at)).where(col(QueueMetric.priority_key) == marker)
        ).all()
    assert [as_utc(taken_at) for (taken_at,) in kept] == [recent]
    # The count itself, on the service: one more old row, one deleted, then none.
    with held.services.db.session() as session:
        session.add(
            QueueMetric(taken_at=old, tier="free", priority_key=marker, waiting=1, on_gpu=0)
        )
    metrics = QueueMetrics(held.services.db)
    assert metrics.prune(now - timedelta(days=30)) == 1
    assert metrics.prune(now - timedelta(days=30)) == 0

    since = (now - timedelta(minutes=1)).isoformat()
    with held.admin() as admin:
        response = admin.get("/v1/admin/queue/metrics", params={"since": since})
    assert response.status_code == 200, response.text
    rows = {(r["tier"], r["priority_key"]): r for r in response.json()["rows"]}
    assert {(t.value, p) for t, p in [(Tier.FREE, 4), (Tier.PAID, 2), (Tier.FOREVER, 2)]} <= set(
        rows
    )
    free = rows[(Tier.FREE.value, FREE_PRIORITY)]
    assert free["waiting"] >= 1
    assert free["oldest_wait_s"] > 0
    assert free["on_gpu"] >= 2
    assert free["queue_backlog"] >= 1
    assert free["queue_backlog_age_s"] > 0
    # RunPod's /health counts the two model runs the held jobs started.
    assert free["runpod_in_progress"] >= 2
    assert free["runpod_workers_running"] >= 2
