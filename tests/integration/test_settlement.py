"""Every way a job can end settles its credits, and no request hangs (issue 8), and the
Temporal Web UI shows what a job is and how it ended (issue 16).

A stack of its own (Temporal dev server, SQLite, local RunPod endpoint, API) with a worker the
test builds, whose chosen activities wait at their start until the test releases them, so each
stage of a run can be held and cancelled, terminated or finalized on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select
from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from heirloom.activities.restoration import RestorationActivities
from heirloom.api.app import create_app
from heirloom.config import FaultSettings, Settings
from heirloom.db import migrate
from heirloom.db.models import CreditEntry, Job
from heirloom.devstack.endpoint import create_endpoint_app
from heirloom.devstack.serving import free_port, serve_app
from heirloom.devstack.temporal_server import TemporalDevServer
from heirloom.domain.messages import ReconcileInput, ReconcileReport, RestorationInput
from heirloom.domain.tiers import Tier
from heirloom.services.accounts import ROLE_ADMIN
from heirloom.services.context import Services
from heirloom.worker.main import activity_functions, ops_worker
from heirloom.worker.schedules import OPS_TASK_QUEUE, ensure_schedules
from heirloom.workflows.reconcile import ReconcileWorkflow
from heirloom.workflows.restoration import RestorationWorkflow
from tests.support import photo_bytes, submit, wait_final

NAMESPACE = "default"
DEADLINE_S = 60.0


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


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("settlement")
    server = TemporalDevServer(port=free_port(), ui_port=None)
    server.start()
    database_url = f"sqlite:///{home / 'heirloom.db'}"
    migrate.upgrade(database_url)
    endpoint_settings = Settings(home=home, runpod_api_key="settle-key")
    try:
        with serve_app(create_endpoint_app(endpoint_settings)) as runpod_url:
            settings = Settings(
                home=home,
                database_url=database_url,
                temporal_address=server.address,
                temporal_namespace=NAMESPACE,
                runpod_api_key="settle-key",
                runpod_base_url=f"{runpod_url}/v2",
                runpod_poll_interval_s=0.1,
                model_heartbeat_timeout_s=5,
                submit_timeout_s=30,
            )
            services = Services.build(settings, pool_size=20)
            admin = services.accounts.create(
                email="admin@example.com", tier=Tier.FOREVER, role=ROLE_ADMIN
            )
            try:
                with serve_app(create_app(settings, services=services)) as api_url:
                    yield Env(settings, services, api_url, runpod_url, admin.api_key)
            finally:
                services.close()
    finally:
        server.stop()


class GatedWorker:
    """The product's activities on every tier queue (and the operations queue), where each
    activity named in `gated` waits at its start until the test releases it."""

    def __init__(self, env: Env, *, gated: tuple[str, ...] = (), slots: int = 8) -> None:
        self.env = env
        self.slots = slots
        self.entered = {name: threading.Event() for name in gated}
        self.released = {name: threading.Event() for name in gated}
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def wait_entered(self, name: str) -> None:
        assert self.entered[name].wait(DEADLINE_S), f"{name} never started"

    def release(self, name: str) -> None:
        self.released[name].set()

    def __enter__(self) -> GatedWorker:
        self._thread.start()
        assert self._ready.wait(30), "the worker did not start"
        if self._error is not None:
            raise RuntimeError("the worker failed to start") from self._error
        return self

    def __exit__(self, *_exc: object) -> None:
        for event in self.released.values():
            event.set()
        self._stop.set()
        self._thread.join(timeout=30)

    def _gate(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        name = fn.__name__
        if name not in self.entered:
            return fn
        entered, released = self.entered[name], self.released[name]
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def gated_async(arg: Any) -> Any:
                entered.set()
                await asyncio.to_thread(released.wait)
                return await fn(arg)

            return _as_activity(name, gated_async)

        @functools.wraps(fn)
        def gated(arg: Any) -> Any:
            entered.set()
            released.wait()
            return fn(arg)

        return _as_activity(name, gated)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:
            self._error = err
            self._ready.set()

    async def _main(self) -> None:
        settings = self.env.settings
        client = await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace
        )
        services = self.env.services
        activities = [self._gate(fn) for fn in activity_functions(RestorationActivities(services))]
        with ThreadPoolExecutor(max_workers=32) as executor:
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
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


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


def only_job_of(env: Env, user_id: str) -> str:
    def one() -> bool:
        return len(env.services.jobs.list_owned(user_id)) == 1

    wait_for(one, f"the job row of user {user_id}")
    return env.services.jobs.list_owned(user_id)[0].id


# --- a Temporal-level cancel at every stage -----------------------------------------------


def test_temporal_cancel_while_reserving_refunds_and_ends_cancelled(env: Env) -> None:
    user_id, key = env.new_user()
    with GatedWorker(env, gated=("reserve_credits",)) as worker:
        answer = submit_in_background(env, key, photo_bytes(320, 240, seed=11))
        worker.wait_entered("reserve_credits")
        workflow_ids = env.temporal(_open_workflow_ids_of_user(user_id))
        assert len(workflow_ids) == 1
        job_id = workflow_ids[0]
        temporal_cancel(env, job_id)
        worker.release("reserve_credits")
        response = answer.result(timeout=DEADLINE_S)
        assert response.status_code == 202, response.text
        assert response.json()["id"] == job_id
        job = wait_final(env.client(key), job_id)
    assert job["status"] == "cancelled"
    assert job["credits_refunded"] == job["credits_charged"] == 2
    assert_refunded_once(env, job_id, 2)
    assert job_row(env, job_id).ended_by == "operator"
    assert wait_run_closed(env, job_id) == WorkflowExecutionStatus.CANCELED
    assert env.services.credits.balance(user_id) == 20


def _open_workflow_ids_of_user(user_id: str) -> Callable[[Client], Any]:
    async def find(client: Client) -> list[str]:
        deadline = asyncio.get_running_loop().time() + DEADLINE_S
        while True:
            ids = [
                wf.id
                async for wf in client.list_workflows(
                    f"HeirloomUserId = '{user_id}' AND ExecutionStatus = 'Running'"
                )
            ]
            if ids or asyncio.get_running_loop().time() > deadline:
                return ids
            await asyncio.sleep(0.1)

    return find


def test_temporal_cancel_while_queued_never_prepares_and_refunds(env: Env) -> None:
    """With the only activity slot held by another job, the job's first step waits queued."""
    _, blocker_key = env.new_user()
    user_id, key = env.new_user()
    with GatedWorker(env, gated=("prepare_input",), slots=1) as worker:
        blocker = submit(env.client(blocker_key), photo_bytes(320, 240, seed=12))
        assert blocker.status_code == 202, blocker.text
        worker.wait_entered("prepare_input")
        response = submit(env.client(key), photo_bytes(320, 240, seed=13))
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        assert job_row(env, job_id).stage == "queued"
        temporal_cancel(env, job_id)
        worker.release("prepare_input")
        job = wait_final(env.client(key), job_id)
        assert wait_final(env.client(blocker_key), blocker.json()["id"])["status"] == "completed"
    assert job["status"] == "cancelled"
    assert_refunded_once(env, job_id, 2)
    assert job_row(env, job_id).input_key is None
    assert not env.services.storage.exists(f"users/{user_id}/jobs/{job_id}/input.jpg")
    assert wait_run_closed(env, job_id) == WorkflowExecutionStatus.CANCELED


@pytest.mark.parametrize("step", ["prepare_input", "postprocess"])
def test_temporal_cancel_during_an_image_step_refunds_and_removes_outputs(
    env: Env, step: str
) -> None:
    user_id, key = env.new_user()
    with GatedWorker(env, gated=(step,)) as worker:
        response = submit(env.client(key), photo_bytes(320, 240, seed=14))
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        worker.wait_entered(step)
        temporal_cancel(env, job_id)
        worker.release(step)
        job = wait_final(env.client(key), job_id)
    assert job["status"] == "cancelled"
    assert job["result_url"] is None
    assert_refunded_once(env, job_id, 2)
    for kind in ("input", "result", "thumbnail", "comparison"):
        assert not env.services.storage.exists(f"users/{user_id}/jobs/{job_id}/{kind}.jpg")
    assert not env.services.storage.exists(f"users/{user_id}/jobs/{job_id}/model.png")
    assert env.services.storage.exists(job_row(env, job_id).original_key)
    assert wait_run_closed(env, job_id) == WorkflowExecutionStatus.CANCELED


def test_temporal_cancel_during_the_model_call_cancels_the_runpod_job(env: Env) -> None:
    _, key = env.new_user()
    env.set_faults(execution_ms=60_000)
    try:
        with GatedWorker(env):
            response = submit(env.client(key), photo_bytes(320, 240, seed=15))
            assert response.status_code == 202, response.text
            job_id = response.json()["id"]
            wait_for(lambda: job_row(env, job_id).runpod_job_id is not None, "the RunPod job")
            runpod_job_id = job_row(env, job_id).runpod_job_id
            assert runpod_job_id is not None
            temporal_cancel(env, job_id)
            job = wait_final(env.client(key), job_id)
    finally:
        env.set_faults()
    assert job["status"] == "cancelled"
    assert_refunded_once(env, job_id, 2)
    assert env.runpod_status(runpod_job_id) == "CANCELLED"
    assert job_row(env, job_id).ended_by == "operator"


def test_temporal_cancel_while_completing_lets_the_job_complete_charged(env: Env) -> None:
    """The completion is past the point of no return: the job keeps its result and charge.

    The cancel may reach the run before the completion's workflow task is recorded; the run
    then takes the cancel path, which must neither refund nor remove a completed job's files.
    """
    _, key = env.new_user()
    with GatedWorker(env, gated=("complete_job",)) as worker:
        response = submit(env.client(key), photo_bytes(320, 240, seed=16))
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        worker.wait_entered("complete_job")
        temporal_cancel(env, job_id)
        worker.release("complete_job")
        job = wait_final(env.client(key), job_id)
        wait_run_closed(env, job_id)
    assert job["status"] == "completed"
    assert env.ledger(job_id) == [("reserve", -2)]
    row = job_row(env, job_id)
    for key_ in (row.result_key, row.thumbnail_key, row.comparison_key, row.input_key):
        assert key_ is not None
        assert env.services.storage.exists(key_)


# --- the API's cancel tells the truth -----------------------------------------------------


def test_api_cancel_while_finalizing_answers_409_and_the_job_completes(env: Env) -> None:
    _, key = env.new_user()
    with GatedWorker(env, gated=("complete_job",)) as worker:
        response = submit(env.client(key), photo_bytes(320, 240, seed=17))
        job_id = response.json()["id"]
        worker.wait_entered("complete_job")
        cancel = env.client(key).post(f"/v1/jobs/{job_id}/cancel")
        assert cancel.status_code == 409, cancel.text
        assert cancel.json()["error"]["code"] == "job_already_finished"
        worker.release("complete_job")
        job = wait_final(env.client(key), job_id)
    assert job["status"] == "completed"
    assert job["credits_refunded"] == 0
    assert env.ledger(job_id) == [("reserve", -2)]


def test_api_cancel_during_the_model_call_is_202_and_closes_the_run_cancelled(env: Env) -> None:
    _, key = env.new_user()
    env.set_faults(execution_ms=60_000)
    try:
        with GatedWorker(env):
            job_id = submit(env.client(key), photo_bytes(320, 240, seed=18)).json()["id"]
            wait_for(lambda: job_row(env, job_id).runpod_job_id is not None, "the RunPod job")
            cancel = env.client(key).post(f"/v1/jobs/{job_id}/cancel")
            assert cancel.status_code == 202, cancel.text
            job = wait_final(env.client(key), job_id)
    finally:
        env.set_faults()
    assert job["status"] == "cancelled"
    assert_refunded_once(env, job_id, 2)
    assert job_row(env, job_id).ended_by == "user"
    assert wait_run_closed(env, job_id) == WorkflowExecutionStatus.CANCELED
    again = env.client(key).post(f"/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409


# --- runs that end without the workflow seeing it ------------------------------------------


def reconcile(env: Env) -> ReconcileReport:
    async def run(client: Client) -> ReconcileReport:
        return await client.execute_workflow(
            ReconcileWorkflow.run,
            ReconcileInput(grace_s=0, batch=2),
            id=f"reconcile-test-{uuid.uuid4().hex[:8]}",
            task_queue=OPS_TASK_QUEUE,
        )

    report: ReconcileReport = env.temporal(run)
    return report


def test_a_terminated_run_is_settled_once_by_reconciliation(env: Env) -> None:
    user_id, key = env.new_user()
    env.set_faults(execution_ms=60_000)
    try:
        with GatedWorker(env):
            job_id = submit(env.client(key), photo_bytes(320, 240, seed=19)).json()["id"]
            wait_for(lambda: job_row(env, job_id).runpod_job_id is not None, "the RunPod job")
            env.temporal(lambda c: c.get_workflow_handle(job_id).terminate(reason="test"))
            assert job_row(env, job_id).status == "running"
            first = reconcile(env)
            second = reconcile(env)
    finally:
        env.set_faults()
    assert job_id in first.settled
    assert job_id not in second.settled
    row = job_row(env, job_id)
    assert (row.status, row.error_code, row.ended_by) == ("failed", "interrupted", "system")
    assert row.error_message is not None
    assert "refunded" in row.error_message
    assert_refunded_once(env, job_id, 2)
    assert env.services.credits.balance(user_id) == 20


def test_reconciliation_leaves_running_jobs_alone(env: Env) -> None:
    _, key = env.new_user()
    with GatedWorker(env, gated=("postprocess",)) as worker:
        job_id = submit(env.client(key), photo_bytes(320, 240, seed=20)).json()["id"]
        worker.wait_entered("postprocess")
        report = reconcile(env)
        assert job_id not in report.settled
        worker.release("postprocess")
        assert wait_final(env.client(key), job_id)["status"] == "completed"
    assert env.ledger(job_id) == [("reserve", -2)]


def test_the_reconcile_schedule_is_declared_with_the_configured_interval(env: Env) -> None:
    async def declare_twice(client: Client) -> Any:
        await ensure_schedules(client, env.settings)
        await ensure_schedules(client, env.settings)
        return await client.get_schedule_handle("heirloom-reconcile").describe()

    description = env.temporal(declare_twice)
    intervals = description.schedule.spec.intervals
    assert [i.every for i in intervals] == [timedelta(seconds=env.settings.reconcile_interval_s)]
    assert description.schedule.action.workflow == ReconcileWorkflow.__name__
    assert description.schedule.action.task_queue == OPS_TASK_QUEUE


# --- submissions answer in bounded time -----------------------------------------------------


def test_without_a_worker_post_answers_503_charges_nothing_and_a_same_key_retry_runs(
    env: Env,
) -> None:
    user_id, key = env.new_user()
    photo = photo_bytes(320, 240, seed=21)
    impatient = Services.build(env.settings.model_copy(update={"submit_timeout_s": 2}))
    with (
        serve_app(create_app(impatient.settings, services=impatient)) as api_url,
        httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as api,
    ):
        refused = submit(api, photo, key="no-worker-1")
    impatient.close()
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "service_unavailable"
    assert env.services.credits.balance(user_id) == 20
    assert env.services.jobs.list_owned(user_id) == []
    with GatedWorker(env):
        accepted = submit(env.client(key), photo, key="no-worker-1")
        assert accepted.status_code == 202, accepted.text
        job = wait_final(env.client(key), accepted.json()["id"])
    assert job["status"] == "completed"
    assert env.services.credits.balance(user_id) == 18


# --- ids are used once ---------------------------------------------------------------------


def test_a_second_run_under_a_finished_jobs_id_is_refused_and_leaves_its_results(
    env: Env,
) -> None:
    user_id, key = env.new_user()
    with GatedWorker(env):
        job_id = submit(env.client(key), photo_bytes(320, 240, seed=22), key="once").json()["id"]
        assert wait_final(env.client(key), job_id)["status"] == "completed"
        first = job_row(env, job_id)

        async def run_again(client: Client) -> Any:
            history = await client.get_workflow_handle(job_id).fetch_history()
            start = history.events[0].workflow_execution_started_event_attributes
            (job_input,) = await client.data_converter.decode(
                start.input.payloads, [RestorationInput]
            )
            handle = await client.start_workflow(
                RestorationWorkflow.run,
                job_input,
                id=job_id,
                task_queue=Tier.PAID.task_queue,
            )
            return await handle.execute_update(RestorationWorkflow.reserve)

        answer = env.temporal(run_again)
    assert answer.accepted is False
    assert answer.error_code == "job_already_finished"
    after = job_row(env, job_id)
    assert (after.status, after.result_key, after.cost) == ("completed", first.result_key, 2)
    assert first.result_key is not None
    assert env.services.storage.exists(first.result_key)
    assert env.ledger(job_id) == [("reserve", -2)]
    assert env.services.credits.balance(user_id) == 18


# --- the Web UI's view of a job ---------------------------------------------------------------


def test_a_failed_job_closes_as_a_failed_run_with_its_code_and_plain_words(env: Env) -> None:
    _, key = env.new_user()
    env.set_faults(failed=1.0)
    try:
        with GatedWorker(env):
            job_id = submit(env.client(key), photo_bytes(320, 240, seed=23)).json()["id"]
            job = wait_final(env.client(key), job_id)
            wait_run_closed(env, job_id)
            # A query on a closed run replays it on a worker: ask while one runs.
            details = env.temporal(
                lambda c: c.get_workflow_handle(job_id).query("__temporal_workflow_metadata")
            )
    finally:
        env.set_faults()
    assert (job["status"], job["error"]["code"]) == ("failed", "model_failed")
    assert_refunded_once(env, job_id, 2)

    async def outcome(client: Client) -> BaseException:
        try:
            await client.get_workflow_handle(job_id).result()
        except WorkflowFailureError as err:
            return err
        raise AssertionError("the failed job's run completed")

    failure = env.temporal(outcome)
    assert f"error `model_failed`: {job['error']['message']}" in str(details)
    assert isinstance(failure.cause, ApplicationError)
    assert failure.cause.type == "model_failed"
    assert failure.cause.message == job["error"]["message"]
    assert "RunPod" not in job["error"]["message"]
    assert "injected" not in job["error"]["message"]
    row = job_row(env, job_id)
    assert row.error_detail is not None
    assert "injected fault" in row.error_detail
    operator_view = env.client(env.admin_key).get(f"/v1/admin/jobs/{job_id}")
    assert operator_view.status_code == 200, operator_view.text
    assert operator_view.json()["error_detail"] == row.error_detail
    assert operator_view.json()["workflow_url"] == (
        f"http://127.0.0.1:8233/namespaces/{NAMESPACE}/workflows/{job_id}"
    )
    assert "error_detail" not in env.client(key).get(f"/v1/jobs/{job_id}").json()
    _, other_key = env.new_user()
    assert env.client(other_key).get(f"/v1/admin/jobs/{job_id}").status_code == 403

    async def listed(client: Client) -> list[str]:
        query = f"ExecutionStatus = 'Failed' AND WorkflowId = '{job_id}'"
        for _ in range(200):
            found = [wf.id async for wf in client.list_workflows(query)]
            if found:
                return found
            await asyncio.sleep(0.1)
        return []

    assert env.temporal(listed) == [job_id]


def test_a_job_explains_itself_in_its_summary_and_current_details(env: Env) -> None:
    _, key = env.new_user(tier=Tier.FREE)
    with GatedWorker(env, gated=("postprocess",)) as worker:
        job_id = submit(env.client(key), photo_bytes(320, 240, seed=24), "restore,colorize").json()[
            "id"
        ]
        worker.wait_entered("postprocess")

        async def running(client: Client) -> tuple[str | None, str | None, str]:
            handle = client.get_workflow_handle(job_id)
            description = await handle.describe()
            metadata = await handle.query("__temporal_workflow_metadata")
            return (
                await description.static_summary(),
                await description.static_details(),
                str(metadata),
            )

        summary, details, current = env.temporal(running)
        worker.release("postprocess")
        assert wait_final(env.client(key), job_id)["status"] == "completed"
    assert summary == "free - restore+colorize - 4 credits - 320x240 JPEG"
    assert details is not None
    assert "watermark yes" in details
    assert "postprocessing" in current
    assert "running" in current


# --- the free tier's daily limit counts GPU time used ------------------------------------------


def test_a_job_cancelled_after_its_model_started_keeps_its_daily_slot(env: Env) -> None:
    from heirloom.domain.jobs import JobStatus, Stage
    from heirloom.services.credits import NewJob

    user_id, _ = env.new_user(tier=Tier.FREE)
    services = env.services

    def cancelled_job(*, model_started: bool) -> None:
        job_id = uuid.uuid4().hex
        services.credits.reserve(
            NewJob(job_id, user_id, "restore", Tier.FREE, f"users/{user_id}/jobs/{job_id}/o.jpg")
        )
        if model_started:
            services.jobs.set_stage(job_id, Stage.PROCESSING, runpod_job_id="rp-" + job_id)
        services.credits.refund(job_id, "cancelled")
        services.jobs.finish_unsuccessfully(
            job_id, JobStatus.CANCELLED, code="cancelled", message="cancelled"
        )

    def used_today() -> int:
        with services.db.session() as session:
            return services.credits.jobs_today(session, user_id, datetime.now(UTC))

    cancelled_job(model_started=False)
    assert used_today() == 0
    cancelled_job(model_started=True)
    assert used_today() == 1
    assert services.credits.balance(user_id) == 20
