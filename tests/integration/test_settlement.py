"""Every way a job can end settles its credits, and no request hangs (issue 8), and the
Temporal Web UI shows what a job is and how it ended (issue 16).

A stack of its own (Temporal dev server, SQLite, local RunPod endpoint, API) with a worker the
test builds, whose chosen activities wait at their start until the test releases them, so each
stage of a run can be held and cancelled, terminated or finalized on purpose.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.exceptions import ApplicationError

from heirloom.domain.messages import ReconcileInput, ReconcileReport, RestorationInput
from heirloom.domain.periodic import Pace
from heirloom.domain.task_queues import OPS_TASK_QUEUE
from heirloom.domain.tiers import Tier
from heirloom.worker.schedules import ensure_schedules
from heirloom.workflows.reconcile import ReconcileWorkflow
from heirloom.workflows.restoration import RestorationWorkflow
from tests.harness.gated import (
    IDLE_NAMESPACE,
    NAMESPACE,
    Env,
    GatedWorker,
    assert_refunded_once,
    gated_env,
    job_row,
    submit_in_background,
    temporal_cancel,
    wait_for,
    wait_run_closed,
)
from tests.harness.stack import serving
from tests.support import HANG_GUARD_S, photo_bytes, remove_schedules, submit, wait_final


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with gated_env(tmp_path_factory.mktemp("settlement")) as built:
        yield built


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
        response = answer.result(timeout=HANG_GUARD_S)
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
        deadline = asyncio.get_running_loop().time() + HANG_GUARD_S
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
    assert not env.services.storage.exists(f"users/{user_id}/jobs/{job_id}/model/0.png")
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
    # The RunPod job stays queued: the model never starts, so the cancel refunds in full.
    env.set_faults(stuck_in_queue=1.0)
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
            # Every unfinished job, however recently its row changed: a terminated run's model
            # step may still write progress until its next heartbeat finds the run gone.
            # Whether a run is gone is the describe call's to say, not the grace period's.
            ReconcileInput(grace_s=-60, batch=2),
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
            runpod_job_id = job_row(env, job_id).runpod_job_id
            assert runpod_job_id is not None
            first = reconcile(env)
            second = reconcile(env)
    finally:
        env.set_faults()
    assert job_id in first.settled
    assert job_id not in second.settled
    assert env.runpod_status(runpod_job_id) == "CANCELLED"
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


async def _running_reconcile_runs(client: Client) -> list[str]:
    info = (await client.get_schedule_handle("heirloom-reconcile").describe()).info
    return [
        run.workflow_id
        for run in info.running_actions
        if isinstance(run, ScheduleActionExecutionStartWorkflow)
    ]


def _passes(workflow_id: str) -> Callable[[Client], Any]:
    """How many reconciliation passes the run began (each starts with a page of jobs)."""

    async def count(client: Client) -> int:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        return sum(
            1
            for event in history.events
            if event.HasField("activity_task_scheduled_event_attributes")
            and event.activity_task_scheduled_event_attributes.activity_type.name == "find_stranded"
        )

    return count


def test_the_reconcile_schedule_passes_every_interval_in_one_run_and_a_worker_start_takes_over(
    env: Env,
) -> None:
    fast = env.settings.model_copy(update={"reconcile_interval_s": 1})
    try:
        with GatedWorker(env):
            # A new schedule starts its run at once; the run makes pass after pass.
            env.temporal(lambda client: ensure_schedules(client, fast))
            wait_for(lambda: env.temporal(_running_reconcile_runs) != [], "the first run")
            (first,) = env.temporal(_running_reconcile_runs)
            wait_for(lambda: env.temporal(_passes(first)) >= 2, "a second pass in the run")
            # A worker starting with other settings: the run ends, the next has the new input.
            env.temporal(lambda client: ensure_schedules(client, env.settings))
            last_pass = env.temporal(lambda client: client.get_workflow_handle(first).result())
            assert "checked" in last_pass
            wait_for(
                lambda: env.temporal(_running_reconcile_runs) not in ([], [first]), "the next run"
            )

            async def declared(client: Client) -> tuple[Any, ScheduleActionStartWorkflow, Any]:
                description = await client.get_schedule_handle("heirloom-reconcile").describe()
                action = description.schedule.action
                assert isinstance(action, ScheduleActionStartWorkflow)
                (given,) = await client.data_converter.decode(action.args, [ReconcileInput])
                return description.schedule.spec, action, given

            spec, action, given = env.temporal(declared)
    finally:
        env.temporal(lambda client: remove_schedules(client, env.settings))
    # One run an hour, a pass every configured interval within it.
    assert [i.every for i in spec.intervals] == [timedelta(hours=1)]
    settings = env.settings
    pace = Pace(every_s=settings.reconcile_interval_s, window_s=3600)
    assert given == ReconcileInput(settings.reconcile_grace_s, settings.reconcile_batch, pace)
    assert action.workflow == ReconcileWorkflow.__name__
    assert action.task_queue == OPS_TASK_QUEUE


# --- submissions answer in bounded time -----------------------------------------------------


async def _runs_of(client: Client, user_id: str) -> list[WorkflowExecution]:
    query = f"HeirloomUserId = '{user_id}'"
    return [run async for run in client.list_workflows(query)]


def test_without_a_worker_post_answers_503_charges_nothing_and_a_same_key_retry_runs(
    env: Env,
) -> None:
    user_id, key = env.new_user()
    photo = photo_bytes(320, 240, seed=21)
    # A worker polled the tier a moment ago and is gone: Temporal still lists it as a poller,
    # so the API starts the run (with no poller at all it refuses at once, starting nothing).
    with GatedWorker(env):
        pass
    with (
        serving(env.settings.model_copy(update={"submit_timeout_s": 2})) as impatient,
        httpx.Client(
            base_url=impatient.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as api,
    ):
        refused = submit(api, photo, key="no-worker-1")
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "service_unavailable"
    assert env.services.credits.balance(user_id) == 20
    assert env.services.jobs.list_owned(user_id) == []
    # The run the API gave up on is terminated, not left to reserve once a worker appears.
    # (Visibility lists a run shortly after it changes, hence the wait.)
    wait_for(
        lambda: (
            [r.status for r in env.temporal(lambda c: _runs_of(c, user_id))]
            == [WorkflowExecutionStatus.TERMINATED]
        ),
        "the withdrawn run terminated",
    )
    with GatedWorker(env):
        accepted = submit(env.client(key), photo, key="no-worker-1")
        assert accepted.status_code == 202, accepted.text
        job = wait_final(env.client(key), accepted.json()["id"])
    assert job["status"] == "completed"
    assert env.services.credits.balance(user_id) == 18


def test_a_tier_no_worker_polls_is_refused_at_once_with_retry_after(env: Env) -> None:
    user_id, key = env.new_user()
    with (
        serving(env.settings.model_copy(update={"temporal_namespace": IDLE_NAMESPACE})) as idle,
        httpx.Client(
            base_url=idle.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as api,
    ):
        refused = submit(api, photo_bytes(320, 240, seed=25))
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "30"
    assert "nothing was charged" in refused.json()["error"]["message"]
    assert env.services.credits.balance(user_id) == 20
    assert not (env.settings.resolved_storage_dir / "users" / user_id).exists()


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
    from heirloom.services.money.credits import NewJob

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
