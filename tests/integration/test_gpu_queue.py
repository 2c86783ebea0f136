"""The GPU queue (issue 9): model steps wait in one Temporal task queue, dispatched by priority
(retries, then paid and forever, then free) and fairly across users, never more at once than the
GPU pool; a waiting job costs no RunPod request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from heirloom.domain.jobs import Stage
from heirloom.domain.tiers import Tier
from tests.harness.gated import Env, GatedWorker, ModelStarts, gated_env, wait_for
from tests.harness.workers import WorkerProcess
from tests.support import photo_bytes, submit, wait_final


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    # The free tier's daily limit, the in-progress caps and the upload budget would stop one
    # user's flood before it queues.
    uncapped = {"max_active_jobs": None}
    with gated_env(
        tmp_path_factory.mktemp("gpu-queue"),
        tier_rules={"free": {"daily_job_limit": None, **uncapped}, "paid": uncapped},
        rate_limit_uploads="10000/minute",
    ) as built:
        yield built


def waiting_for_gpu(env: Env, job_id: str) -> bool:
    """Whether the job's model step is scheduled on the GPU queue and not started."""

    async def pending(client: Client) -> bool:
        description = await client.get_workflow_handle(job_id).describe()
        return any(
            activity.activity_type.name == "run_model"
            and not activity.HasField("last_started_time")
            for activity in description.raw_description.pending_activities
        )

    waiting: bool = env.temporal(pending)
    return waiting


def post(env: Env, key: str, seed: int) -> str:
    response = submit(env.client(key), photo_bytes(160, 120, seed=seed))
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def test_retries_then_paid_then_free_fairly_and_waiting_jobs_cost_nothing(env: Env) -> None:
    _, heavy_key = env.new_user(Tier.FREE, credits=200)
    _, light_key = env.new_user(Tier.FREE, credits=200)
    _, paid_key = env.new_user(Tier.PAID, credits=200)
    _, blocker_key = env.new_user(Tier.FREE, credits=200)

    env.set_faults(failed=1.0)
    try:
        with GatedWorker(env, gpu_slots=1):
            failed_id = post(env, light_key, seed=30)
            assert wait_final(env.client(light_key), failed_id)["status"] == "failed"
    finally:
        env.set_faults()

    starts = ModelStarts()
    with GatedWorker(env, gated=("run_model",), gpu_slots=1, starts=starts) as worker:
        blocker = post(env, blocker_key, seed=31)
        worker.wait_entered("run_model")
        heavy = [post(env, heavy_key, seed=40 + i) for i in range(20)]
        light = [post(env, light_key, seed=70 + i) for i in range(2)]
        paid = post(env, paid_key, seed=80)
        retried = env.client(light_key).post(f"/v1/jobs/{failed_id}/retry")
        assert retried.status_code == 202, retried.text
        retry: str = retried.json()["id"]
        waiting = [*heavy, *light, paid, retry]
        wait_for(
            lambda: all(waiting_for_gpu(env, job_id) for job_id in waiting),
            "every job's model step to wait in the GPU queue",
        )
        stats = httpx.get(f"{env.runpod_url}/_admin/stats", timeout=10).json()
        assert not set(waiting) & set(stats["submitted_by_ref"]), "a waiting job reached RunPod"
        worker.release("run_model")
        wait_for(lambda: len(starts.order) == len(waiting) + 1, "every model step to start")
        wait_for(
            lambda: all(env.services.jobs.get(j).status == "completed" for j in waiting),
            "every job to complete",
        )

    for job_id in waiting:
        assert env.services.jobs.get(job_id).status == "completed"
    order = starts.order
    assert order[0] == blocker
    assert order[1] == retry, order
    assert order[2] == paid, order
    free_order = order[3:]
    assert sorted(free_order) == sorted([*heavy, *light])
    # Fair across users: the light user's two jobs do not wait behind the heavy user's twenty.
    assert max(free_order.index(job_id) for job_id in light) <= 5, free_order
    assert starts.most_at_once == 1


def most_open_at_endpoint(runs: list[dict[str, Any]]) -> int:
    """The most RunPod jobs open at once, from the endpoint's log: each from its submission
    to its model's end (a slot is given back only after a poll has seen the end)."""
    edges = sorted(
        [(run["submitted_at"], 1) for run in runs] + [(run["finished_at"], -1) for run in runs],
        key=lambda edge: (edge[0], edge[1]),  # an end before a submission at the same instant
    )
    most = open_now = 0
    for _, change in edges:
        open_now += change
        most = max(most, open_now)
    return most


def test_runpod_jobs_in_flight_never_exceed_the_pool_across_two_worker_processes(
    env: Env, tmp_path: Path
) -> None:
    """Two `heirloom worker --gpu-slots 1` processes on the same queues: a pool of 2."""
    _, key = env.new_user(Tier.PAID, credits=200)
    workers = [
        WorkerProcess(
            env.settings, tmp_path / f"worker-{i}.log", ("--tiers", "paid", "--gpu-slots", "1")
        )
        for i in range(2)
    ]
    env.set_faults(execution_ms=300)
    try:
        for worker in workers:
            worker.start()
        wait_for(lambda: all(worker.ready() for worker in workers), "both workers to poll")
        jobs = [post(env, key, seed=90 + i) for i in range(8)]
        for job_id in jobs:
            assert wait_final(env.client(key), job_id)["status"] == "completed"
    finally:
        env.set_faults()
        for worker in workers:
            worker.stop()
    runs = [
        run
        for run in httpx.get(f"{env.runpod_url}/_admin/runs", timeout=10).json()
        if run["job_ref"] in jobs
    ]
    # One RunPod job per job, never more open at the endpoint than the pool's 2 GPUs and the
    # one job each process prefetches (it waits at RunPod for the next free GPU).
    assert sorted(run["job_ref"] for run in runs) == sorted(jobs)
    assert all(run["finished_at"] is not None for run in runs)
    assert most_open_at_endpoint(runs) <= 2 + 2 * env.settings.gpu_prefetch_per_endpoint
    # Both processes took model steps: the work is shared, not run by one.
    for worker in workers:
        log = worker.log.read_text(errors="replace")
        assert any(job_id in log for job_id in jobs), log[-2000:]


def test_queue_position_and_estimates_count_down_as_jobs_ahead_start(env: Env) -> None:
    _, blocker_key = env.new_user(Tier.FREE, credits=200)
    _, key = env.new_user(Tier.FREE, credits=200)
    _, paid_key = env.new_user(Tier.PAID, credits=200)
    client = env.client(key)

    def shown(job_id: str) -> dict[str, object]:
        body: dict[str, object] = client.get(f"/v1/jobs/{job_id}").json()
        return body

    env.set_faults(execution_ms=300)
    try:
        with GatedWorker(env, gated=("run_model",), gpu_slots=1) as worker:
            blocker = post(env, blocker_key, seed=100)
            worker.wait_entered("run_model")
            # What run_model does first, which the gate in front of it holds back.
            env.services.jobs.set_stage(blocker, Stage.PROCESSING)
            jobs = [post(env, key, seed=101 + i) for i in range(3)]
            wait_for(
                lambda: all(shown(j)["stage"] == "waiting_for_gpu" for j in jobs),
                "the jobs to wait for the GPU",
            )
            assert [shown(j)["queue_position"] for j in jobs] == [0, 1, 2]
            starts = [str(shown(j)["estimated_start_at"]) for j in jobs]
            assert starts == sorted(starts)
            paid = post(env, paid_key, seed=104)
            wait_for(lambda: env.services.jobs.get(paid).stage == "waiting_for_gpu", "the paid job")
            assert env.client(paid_key).get(f"/v1/jobs/{paid}").json()["queue_position"] == 0
            assert [shown(j)["queue_position"] for j in jobs] == [1, 2, 3]
            queue = {t["tier"]: t for t in client.get("/v1/queue").json()["tiers"]}
            assert (queue["free"]["waiting"], queue["free"]["on_gpu"]) == (3, 1)
            assert queue["paid"]["waiting"] == 1
            worker.release("run_model")
            last = jobs[-1]
            seen: list[int] = []

            def started() -> bool:
                body = shown(last)
                if body["queue_position"] is not None:
                    position = body["queue_position"]
                    assert isinstance(position, int)
                    seen.append(position)
                return body["stage"] != "waiting_for_gpu"

            wait_for(started, "the last job's model step to start")
            assert wait_final(client, last)["status"] == "completed"
    finally:
        env.set_faults()
    assert seen == sorted(seen, reverse=True), seen
    assert seen[-1] == 0, seen
