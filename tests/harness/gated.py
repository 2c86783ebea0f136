"""A stack of its own for tests that hold a run at a chosen point.

A Temporal dev server, SQLite, the local RunPod endpoint and the API, with a worker the test
builds, whose chosen activities wait at their start until the test releases them, and which
records the order in which model steps start.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from heirloom.activities.restoration import RestorationActivities
from heirloom.config import FaultSettings, Settings
from heirloom.db.models import CreditEntry, Job
from heirloom.devstack.temporal_server import TemporalDevServer
from heirloom.domain.task_queues import GPU_TASK_QUEUE
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.quality.processes import GateProcesses
from heirloom.worker.main import activity_functions, export_worker, ops_worker
from heirloom.workflows.restoration import RestorationWorkflow
from tests.harness.serving import free_port
from tests.harness.stack import running_stack
from tests.harness.workers import WorkerThread
from tests.support import HANG_GUARD_S, submit, wait_until

NAMESPACE = "default"
# A namespace no worker ever polls.
IDLE_NAMESPACE = "settle-idle"


@dataclass
class Env:
    settings: Settings
    services: Services
    api_url: str
    runpod_url: str
    admin_key: str

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=60.0)

    def new_user(self, tier: Tier = Tier.PAID, credits: int = 20) -> tuple[str, str]:
        user = self.services.accounts.create(
            email=f"{uuid.uuid4().hex[:10]}@example.com", tier=tier, credits=credits
        )
        return user.user.id, user.api_key

    def set_faults(self, **faults: float) -> None:
        body = FaultSettings(**faults).model_dump()
        httpx.put(f"{self.runpod_url}/_admin/faults", json=body, timeout=10).raise_for_status()

    def runpod_status(self, runpod_job_id: str) -> str:
        response = httpx.get(
            f"{self.runpod_url}/v2/{self.settings.runpod_endpoint_id}/status/{runpod_job_id}",
            headers={"Authorization": f"Bearer {self.settings.runpod_api_key}"},
            timeout=10,
        )
        response.raise_for_status()
        status: str = response.json()["status"]
        return status

    def temporal(self, call: Callable[[Client], Any]) -> Any:
        """Run one Temporal client call from synchronous test code."""

        async def run() -> Any:
            client = await Client.connect(
                self.settings.temporal_address, namespace=self.settings.temporal_namespace
            )
            return await call(client)

        return asyncio.run(run())

    def ledger(self, job_id: str) -> list[tuple[str, int]]:
        with self.services.db.session() as session:
            rows = session.exec(
                select(CreditEntry)
                .where(CreditEntry.job_id == job_id)
                .order_by(col(CreditEntry.id))
            )
            return [(row.kind, row.amount) for row in rows]


@contextlib.contextmanager
def gated_env(home: Path, **overrides: Any) -> Iterator[Env]:
    """The stack on its own Temporal dev server; `overrides` are Settings fields."""
    server = TemporalDevServer(port=free_port(), ui_port=None, namespaces=[IDLE_NAMESPACE])
    server.start()
    try:
        with running_stack(
            home,
            f"sqlite:///{home / 'heirloom.db'}",
            server.address,
            NAMESPACE,
            runpod_key="settle-key",
            worker=None,
            pool_size=20,
            model_heartbeat_timeout_s=5,
            submit_timeout_s=30,
            **overrides,
        ) as stack:
            yield Env(
                stack.settings, stack.services, stack.api_url, stack.runpod_url, stack.admin_key
            )
    finally:
        server.stop()


# A held activity heartbeats while it waits: however long the test holds it (a loaded machine),
# its heartbeat timeout never fires, so the step starts once.
HELD_HEARTBEAT_S = 0.5


def _heartbeat() -> None:
    """A held activity's heartbeat; a local activity has none to send."""
    if not activity.info().is_local:
        activity.heartbeat()


class ModelStarts:
    """Model steps as they start, across workers: job ids in start order, and the most at once."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.most_at_once = 0
        self._now = 0
        self._lock = threading.Lock()

    def begin(self, job_id: str) -> None:
        with self._lock:
            self.order.append(job_id)
            self._now += 1
            self.most_at_once = max(self.most_at_once, self._now)

    def end(self) -> None:
        with self._lock:
            self._now -= 1


class GatedWorker(WorkerThread):
    """The product's activities on every tier queue (and the operations queue), where each
    activity named in `gated` waits at its start until the test releases it."""

    ready_timeout_s = 30.0

    def __init__(
        self,
        env: Env,
        *,
        gated: tuple[str, ...] = (),
        slots: int = 8,
        gpu_slots: int | None = None,
        starts: ModelStarts | None = None,
    ) -> None:
        super().__init__(env.services)
        self.env = env
        self.slots = slots
        self.gpu_slots = slots if gpu_slots is None else gpu_slots
        self.starts = starts or ModelStarts()
        self.entered = {name: threading.Event() for name in gated}
        self.released = {name: threading.Event() for name in gated}

    def wait_entered(self, name: str) -> None:
        assert self.entered[name].wait(HANG_GUARD_S), f"{name} never started"

    def release(self, name: str) -> None:
        self.released[name].set()

    def stop(self) -> None:
        for event in self.released.values():
            event.set()
        super().stop()

    def _counted(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """run_model, recording when each job's model step starts and how many run at once."""

        starts = self.starts

        @functools.wraps(fn)
        async def counted(arg: Any) -> Any:
            starts.begin(arg.job.job_id)
            try:
                return await fn(arg)
            finally:
                starts.end()

        return _as_activity("run_model", counted)

    def _gate(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        name = fn.__name__
        if name == "run_model":
            fn = self._counted(fn)
        if name not in self.entered:
            return fn
        entered, released = self.entered[name], self.released[name]
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def gated_async(arg: Any) -> Any:
                entered.set()
                while not await asyncio.to_thread(released.wait, HELD_HEARTBEAT_S):
                    _heartbeat()
                return await fn(arg)

            return _as_activity(name, gated_async)

        @functools.wraps(fn)
        def gated(arg: Any) -> Any:
            entered.set()
            while not released.wait(HELD_HEARTBEAT_S):
                _heartbeat()
            return fn(arg)

        return _as_activity(name, gated)

    async def _main(self) -> None:
        settings = self.env.settings
        client = await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace
        )
        services = self.env.services
        with (
            ThreadPoolExecutor(max_workers=32) as executor,
            GateProcesses(settings.quality, settings.worker_quality_processes) as gate,
        ):
            activities = [
                self._gate(fn) for fn in activity_functions(RestorationActivities(services, gate))
            ]
            workers = [
                Worker(
                    client,
                    task_queue=tier.task_queue,
                    workflows=[RestorationWorkflow],
                    activities=activities,
                    activity_executor=executor,
                    max_concurrent_activities=self.slots,
                    max_heartbeat_throttle_interval=timedelta(seconds=1),
                )
                for tier in Tier
            ]
            workers.append(ops_worker(client, services, executor))
            workers.append(export_worker(client, services, executor))
            workers.append(
                Worker(
                    client,
                    task_queue=GPU_TASK_QUEUE,
                    activities=[fn for fn in activities if fn.__name__ == "run_model"],
                    activity_executor=executor,
                    max_concurrent_activities=self.gpu_slots,
                    max_heartbeat_throttle_interval=timedelta(seconds=1),
                )
            )
            async with contextlib.AsyncExitStack() as stack:
                for worker in workers:
                    await stack.enter_async_context(worker)
                self._ready.set()
                await asyncio.get_running_loop().run_in_executor(None, self._stop.wait)


def _as_activity(name: str, wrapper: Callable[..., Any]) -> Callable[..., Any]:
    """Register a wrapper under the product activity's name (functools.wraps copied its
    definition, which a new one may not overwrite)."""
    vars(wrapper).pop("__temporal_activity_definition", None)
    return activity.defn(name=name)(wrapper)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; the deadline only guards against a hang."""
    wait_until(condition, what)


def job_row(env: Env, job_id: str) -> Job:
    return env.services.jobs.get(job_id)


def temporal_cancel(env: Env, job_id: str) -> None:
    env.temporal(lambda c: c.get_workflow_handle(job_id).cancel())


def run_status(env: Env, job_id: str) -> WorkflowExecutionStatus | None:
    async def describe(client: Client) -> WorkflowExecutionStatus | None:
        return (await client.get_workflow_handle(job_id).describe()).status

    status: WorkflowExecutionStatus | None = env.temporal(describe)
    return status


def wait_run_closed(env: Env, job_id: str) -> WorkflowExecutionStatus | None:
    statuses: list[WorkflowExecutionStatus | None] = []

    def closed() -> bool:
        statuses.append(run_status(env, job_id))
        return statuses[-1] != WorkflowExecutionStatus.RUNNING

    wait_for(closed, f"the run of {job_id} to close")
    return statuses[-1]


def assert_refunded_once(env: Env, job_id: str, cost: int) -> None:
    assert env.ledger(job_id) == [("reserve", -cost), ("refund", cost)]


def submit_in_background(env: Env, key: str, photo: bytes) -> Future[httpx.Response]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(lambda: submit(env.client(key), photo))
    pool.shutdown(wait=False)
    return future
