"""A job waiting for a GPU: its stream shows the queue position and estimates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from httpx_sse import connect_sse

from heirloom.domain.jobs import Stage
from heirloom.domain.tiers import Tier
from tests.harness.gated import Env, GatedWorker, gated_env, wait_for
from tests.support import photo_bytes, submit


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with gated_env(tmp_path_factory.mktemp("stream-queue")) as built:
        yield built


def test_waiting_jobs_stream_carries_its_queue_place_then_follows_it_to_the_end(
    env: Env,
) -> None:
    _, blocker_key = env.new_user(Tier.PAID, credits=20)
    _, key = env.new_user(Tier.PAID, credits=20)
    with GatedWorker(env, gated=("run_model",), gpu_slots=1) as worker:
        blocker = submit(env.client(blocker_key), photo_bytes(seed=51)).json()["id"]
        worker.wait_entered("run_model")
        env.services.jobs.set_stage(blocker, Stage.PROCESSING)
        client = env.client(key)
        job_id = submit(client, photo_bytes(seed=52)).json()["id"]
        wait_for(
            lambda: env.services.jobs.get(job_id).stage == Stage.WAITING_FOR_GPU,
            "the job to wait for the GPU",
        )
        seen: list[dict[str, Any]] = []
        with connect_sse(client, "GET", f"/v1/jobs/{job_id}/events", timeout=120) as source:
            for sse in source.iter_sse():
                seen.append(json.loads(sse.data)["job"])
                if len(seen) == 1:
                    worker.release("run_model")
    snapshot = seen[0]
    assert snapshot["stage"] == "waiting_for_gpu"
    assert snapshot["queue_position"] == 0
    assert snapshot["estimated_start_at"] < snapshot["estimated_finish_at"]
    assert seen[-1]["status"] == "completed"
    assert all("queue_position" not in job for job in seen if job["stage"] != "waiting_for_gpu")
