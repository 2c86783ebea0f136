"""RunPod traffic within its limits (issue 9): a worker's requests stay within its budget, and a
429 with Retry-After delays a job without failing it or submitting it twice. Counted at the
local endpoint. (That a job waiting for a GPU makes no RunPod request is checked in
test_gpu_queue.py.)"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx

from heirloom.services.runpod.client import RunPodJobState, RunPodService
from heirloom.services.runpod.polls import PollScheduler
from tests.conftest import Stack
from tests.support import photo_bytes, submit, wait_final


def photo_payload(job_ref: str) -> dict[str, Any]:
    """A handler input with the photo inline and no claim, as a bare RunPod client sends it."""
    photo = base64.b64encode(photo_bytes(64, 48, seed=7)).decode("ascii")
    return {"image_base64": photo, "operations": ["restore"], "job_ref": job_ref}


def endpoint_stats(stack: Stack) -> dict[str, Any]:
    return dict(stack.runpod_stats())


def reset_endpoint_stats(stack: Stack) -> None:
    httpx.post(f"{stack.runpod_url}/_admin/reset-stats", timeout=10).raise_for_status()


def test_a_rate_limited_endpoint_delays_the_job_without_failing_or_resubmitting_it(
    faults: Stack,
) -> None:
    stack = faults
    _, key = stack.new_user(credits=20)
    reset_endpoint_stats(stack)
    # One request a second, then 429 with Retry-After: 1; the model takes a second. Two jobs
    # submitted together send their /run within that second, so one of them meets a 429
    # whatever pace the polls keep (paced by the expected end, a job alone may not).
    stack.set_faults(rate_limit_per_s=1, retry_after_s=1, execution_ms=1000)

    with stack.client(key) as client:
        responses = [submit(client, photo_bytes(160, 120, seed=seed)) for seed in (901, 902)]
        assert [r.status_code for r in responses] == [202, 202], [r.text for r in responses]
        job_ids = [r.json()["id"] for r in responses]
        jobs = [wait_final(client, job_id) for job_id in job_ids]

    assert [job["status"] for job in jobs] == ["completed", "completed"], jobs
    stats = endpoint_stats(stack)
    assert stats["rate_limited"] >= 1, stats
    assert stats["submitted_by_ref"] == dict.fromkeys(job_ids, 1), stats
    assert stats["model_executions_by_ref"] == dict.fromkeys(job_ids, 1), stats
    # After each 429 the worker sent nothing until Retry-After had passed.
    assert stats["shortest_wait_after_429_s"] >= 1.0, stats
    for job_id in job_ids:
        attempts = stack.services.model_runs.attempts([job_id])
        assert [(a.attempt, a.status) for a in attempts] == [(1, "COMPLETED")]


def test_status_polls_stay_within_the_request_budget_however_many_jobs_wait(
    faults: Stack,
) -> None:
    stack = faults
    stack.set_faults(execution_ms=800)
    reset_endpoint_stats(stack)
    budget_per_s = 10.0
    runpod: RunPodService = stack.services.runpod

    async def run_six() -> list[RunPodJobState]:
        # Polls every 20 ms would be 300 a second for six jobs: the budget decides.
        scheduler = PollScheduler(
            runpod.status_async, requests_per_s=budget_per_s, longest_wait_s=0.02
        )

        async def one(index: int) -> RunPodJobState:
            runpod_job_id = await scheduler.call(
                lambda: runpod.submit_async(
                    photo_payload(f"budget-{index}"), execution_timeout_s=60, ttl_s=600
                )
            )
            async with scheduler.watch(runpod_job_id) as watch:
                while True:
                    state = await watch.next(timeout_s=30)
                    assert state is not None, "no poll answered for 30 s"
                    if state.terminal:
                        return state

        try:
            return await asyncio.gather(*(one(i) for i in range(6)))
        finally:
            await runpod.close_async()

    states = asyncio.run(run_six())

    assert [state.status for state in states] == ["COMPLETED"] * 6
    stats = endpoint_stats(stack)
    assert stats["requests"]["run"] == 6
    assert stats["requests"]["status"] >= 6
    # Ten a second, plus the one request the bucket holds at the start and one for arrival
    # jitter on loopback; the six jobs asked for 300.
    assert stats["peak_requests_per_s"] <= budget_per_s + 2, stats
    assert stats["rate_limited"] == 0
