"""Failure handling on the real stack: injected provider faults, and cancellation at each step."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from temporalio.client import WorkflowFailureError

from heirloom.domain.tiers import Tier
from tests.conftest import Stack
from tests.harness.held_storage import HeldWrites, holding_writes
from tests.integration.test_jobs_api import ledger, runpod_status, wait_for_runpod_job
from tests.support import balance, photo_bytes, submit, temporal_call, wait_final


def test_injected_faults_end_every_job_once_with_credits_right(faults: Stack) -> None:
    """30% HTTP 5xx and 10% FAILED jobs: retries up to the paid limit, refunds exactly once."""
    stack = faults
    stack.set_faults(http_5xx=0.3, failed=0.1)
    _, key = stack.new_user(tier=Tier.PAID, credits=100)
    photo = photo_bytes(320, 240)
    with stack.client(key) as client:
        with ThreadPoolExecutor(max_workers=6) as pool:
            # Ten: the paid tier's cap of jobs in progress at once.
            responses = list(pool.map(lambda _: submit(client, photo), range(10)))
        accepted = [r.json()["id"] for r in responses if r.status_code == 202]
        # A 5xx can only hit the model step; submission itself never touches RunPod.
        assert len(accepted) == 10, [r.text for r in responses if r.status_code != 202]
        jobs = [wait_final(client, job_id) for job_id in accepted]
        final_balance = balance(client)
    completed = [job for job in jobs if job["status"] == "completed"]
    failed = [job for job in jobs if job["status"] == "failed"]
    assert len(completed) + len(failed) == 10
    assert completed, "with 10% FAILED and four attempts most jobs complete"
    submitted: dict[str, int] = stack.runpod_stats()["submitted_by_ref"]  # type: ignore[assignment]
    for job in jobs:
        assert submitted.get(job["id"], 0) <= 4, "paid tier: at most four model attempts"
        if job["status"] == "failed":
            assert job["error"]["code"] in ("model_failed", "model_unavailable")
            assert job["credits_refunded"] == 2
            assert ledger(stack, job["id"]) == [("refund", 2), ("reserve", -2)]
        else:
            assert ledger(stack, job["id"]) == [("reserve", -2)]
    assert final_balance == 100 - 2 * len(completed)
    assert stack.services.credits.check_consistency() == []


def test_cancel_while_waiting_in_the_gpu_queue(faults: Stack) -> None:
    stack = faults
    stack.set_faults(stuck_in_queue=1.0)
    _, key = stack.new_user(credits=20)
    with stack.client(key) as client:
        job_id = submit(client, photo_bytes()).json()["id"]
        runpod_job = wait_for_runpod_job(stack, job_id)
        assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
        done = wait_final(client, job_id)
        assert done["status"] == "cancelled"
        assert balance(client) == 20
    assert ledger(stack, job_id) == [("refund", 2), ("reserve", -2)]
    assert runpod_status(stack, runpod_job) == "CANCELLED"


def test_cancel_right_after_submission_before_any_step(faults: Stack) -> None:
    stack = faults
    # The model takes 20 s, so the job cannot have finished: a 409 here is a failure.
    stack.set_faults(execution_ms=20_000)
    _, key = stack.new_user(credits=20)
    with stack.client(key) as client:
        job_id = submit(client, photo_bytes()).json()["id"]
        response = client.post(f"/v1/jobs/{job_id}/cancel")
        assert response.status_code == 202, response.text
        done = wait_final(client, job_id)
        assert done["status"] == "cancelled"
        assert done["credits_refunded"] == 2
        assert balance(client) == 20
    assert ledger(stack, job_id) == [("refund", 2), ("reserve", -2)]


@pytest.fixture
def held_results(stack: Stack) -> Iterator[HeldWrites]:
    """Result uploads wait until the test releases them, so a cancel lands during
    post-processing."""
    with holding_writes(stack.services, lambda key: key.endswith("/result.jpg")) as held:
        yield held


def test_cancel_during_post_processing_removes_partial_outputs(
    stack: Stack, held_results: HeldWrites
) -> None:
    user_id, key = stack.new_user(credits=20)
    with stack.client(key) as client:
        job_id = submit(client, photo_bytes()).json()["id"]
        assert held_results.started.wait(30), "post-processing never started"
        assert client.get(f"/v1/jobs/{job_id}").json()["stage"] == "postprocessing"
        assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
        held_results.release.set()
        done = wait_final(client, job_id)
        assert done["status"] == "cancelled"
        assert done["result_url"] is None
        # The model ran: the owner's cancel keeps the stated part of the price.
        assert balance(client) == 19
    assert ledger(stack, job_id) == [("refund", 1), ("reserve", -2)]
    storage = stack.services.storage
    for kind in ("input", "result", "thumbnail", "comparison"):
        assert not storage.exists(f"users/{user_id}/jobs/{job_id}/{kind}.jpg"), kind
    assert not storage.exists(f"users/{user_id}/jobs/{job_id}/model/0.png")


def test_retry_of_a_failed_job_is_a_new_charged_job(faults: Stack) -> None:
    stack = faults
    stack.set_faults(failed=1.0)
    _, key = stack.new_user(tier=Tier.PAID, credits=10)
    with stack.client(key) as client:
        job_id = submit(client, photo_bytes()).json()["id"]
        assert wait_final(client, job_id)["status"] == "failed"
        stack.set_faults()
        retry = client.post(f"/v1/jobs/{job_id}/retry")
        assert retry.status_code == 202, retry.text
        again = retry.json()
        assert again["id"] != job_id
        assert again["retry_of"] == job_id
        assert wait_final(client, again["id"])["status"] == "completed"
        assert balance(client) == 8
        assert client.post(f"/v1/jobs/{again['id']}/retry").status_code == 409


def test_a_reservation_that_cannot_reach_the_database_is_503_and_charges_nothing(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key = stack.new_user(credits=20)

    def database_down(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("UPDATE users", {}, Exception("connection refused"))

    monkeypatch.setattr(stack.services.credits, "reserve", database_down)
    with stack.client(key) as client:
        response = submit(client, photo_bytes())
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "service_unavailable"
        monkeypatch.undo()
        assert balance(client) == 20
        assert client.get("/v1/jobs").json()["jobs"] == []


def test_a_charge_that_landed_before_the_reservation_failed_is_refunded(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reservation's commit reached the database but its answer was lost on every retry:
    the API answers 503, and the run refunds the charge it could not see before it ends."""
    user_id, key = stack.new_user(credits=20)
    reserve = stack.services.credits.reserve

    def lands_then_fails(*args: Any, **kwargs: Any) -> object:
        reserve(*args, **kwargs)
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(stack.services.credits, "reserve", lands_then_fails)
    with stack.client(key) as client:
        response = submit(client, photo_bytes())
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "service_unavailable"
        monkeypatch.undo()
    [job] = stack.services.jobs.list_owned(user_id)
    with contextlib.suppress(WorkflowFailureError):
        temporal_call(stack.settings, lambda c: c.get_workflow_handle(job.id).result())
    assert stack.services.jobs.get(job.id).status == "failed"
    assert ledger(stack, job.id) == [("refund", 2), ("reserve", -2)]
    assert stack.services.credits.balance(user_id) == 20
