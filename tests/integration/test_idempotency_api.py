"""POST /v1/jobs never charges twice: Idempotency-Key replays, and a crowd of submissions."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from heirloom.domain.errors import IdempotencyKeyReused
from heirloom.domain.tiers import Tier
from heirloom.services.money.credits import NewJob
from tests.conftest import Stack
from tests.support import HANG_GUARD_S, balance, photo_bytes, submit

PHOTO = photo_bytes(96, 64, seed=1)
OTHER_PHOTO = photo_bytes(96, 64, seed=2)


def jobs(client: httpx.Client) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = client.get("/v1/jobs", params={"limit": 200}).json()["jobs"]
    return listed


def reserves(client: httpx.Client) -> list[str]:
    """The job ids the caller's ledger shows a charge for."""
    entries = client.get("/v1/me/credits", params={"limit": 200}).json()["entries"]
    return [entry["job_id"] for entry in entries if entry["kind"] == "reserve"]


def wait_all_final(client: httpx.Client, job_ids: list[str], timeout: float = HANG_GUARD_S) -> None:
    deadline = time.monotonic() + timeout
    pending = set(job_ids)
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            status = client.get(f"/v1/jobs/{job_id}").json()["status"]
            if status in ("completed", "failed", "cancelled"):
                pending.discard(job_id)
        time.sleep(0.1)
    assert not pending, f"jobs still running after {timeout}s: {pending}"


# --- Idempotency-Key -----------------------------------------------------------------------


def test_same_idempotency_key_and_photo_returns_the_same_job_charged_once(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=10)
    with stack.client(key) as client:
        first = submit(client, PHOTO, key="upload-1")
        assert first.status_code == 202, first.text
        again = submit(client, PHOTO, key="upload-1")
        assert again.status_code == 200, again.text
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["credits_charged"] == 2
        assert balance(client) == 8
        assert [job["id"] for job in jobs(client)] == [first.json()["id"]]
        assert reserves(client) == [first.json()["id"]]
        wait_all_final(client, [first.json()["id"]])
        # Replaying after the job finished still answers with that job, not a new charge.
        late = submit(client, PHOTO, key="upload-1")
        assert (late.status_code, late.json()["status"]) == (200, "completed")
        assert balance(client) == 8


def test_same_idempotency_key_with_reordered_operations_is_the_same_request(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=10)
    with stack.client(key) as client:
        first = submit(client, PHOTO, operations="restore,colorize", key="both")
        again = submit(client, PHOTO, operations="colorize,restore", key="both")
        assert (first.status_code, again.status_code) == (202, 200)
        assert again.json()["id"] == first.json()["id"]
        assert balance(client) == 6
        wait_all_final(client, [first.json()["id"]])


def test_reused_idempotency_key_with_other_photo_is_409(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=10)
    with stack.client(key) as client:
        first = submit(client, PHOTO, key="upload-2")
        assert first.status_code == 202, first.text
        reused = submit(client, OTHER_PHOTO, key="upload-2")
        assert reused.status_code == 409
        error = reused.json()["error"]
        assert error["code"] == "idempotency_key_reused"
        assert "new key" in error["message"]
        assert balance(client) == 8
        assert len(jobs(client)) == 1
        wait_all_final(client, [first.json()["id"]])


def test_reused_idempotency_key_with_other_operations_is_409(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=10)
    with stack.client(key) as client:
        first = submit(client, PHOTO, operations="restore", key="upload-3")
        assert first.status_code == 202, first.text
        reused = submit(client, PHOTO, operations="colorize", key="upload-3")
        assert reused.status_code == 409
        assert reused.json()["error"]["code"] == "idempotency_key_reused"
        assert balance(client) == 8
        wait_all_final(client, [first.json()["id"]])


def test_idempotency_keys_belong_to_one_user(stack: Stack) -> None:
    _, first_key = stack.new_user(tier=Tier.PAID, credits=10)
    _, second_key = stack.new_user(tier=Tier.PAID, credits=10)
    with stack.client(first_key) as first, stack.client(second_key) as second:
        mine = submit(first, PHOTO, key="shared-key")
        theirs = submit(second, OTHER_PHOTO, key="shared-key")
        assert (mine.status_code, theirs.status_code) == (202, 202)
        assert mine.json()["id"] != theirs.json()["id"]
        assert (balance(first), balance(second)) == (8, 8)
        assert second.get(f"/v1/jobs/{mine.json()['id']}").status_code == 404
        wait_all_final(first, [mine.json()["id"]])
        wait_all_final(second, [theirs.json()["id"]])


def test_a_key_refused_for_credits_can_be_used_again_after_a_top_up(stack: Stack) -> None:
    user_id, key = stack.new_user(tier=Tier.PAID, credits=1)
    with stack.client(key) as client:
        refused = submit(client, PHOTO, key="after-top-up")
        assert refused.status_code == 402
        assert jobs(client) == []
        with stack.client(stack.admin_key) as admin:
            granted = admin.post(
                f"/v1/admin/users/{user_id}/credits",
                json={"amount": 5, "reason": "top-up"},
                headers={"Idempotency-Key": "top-up-1"},
            )
            assert granted.status_code == 200, granted.text
        accepted = submit(client, PHOTO, key="after-top-up")
        assert accepted.status_code == 202, accepted.text
        assert balance(client) == 4
        assert reserves(client) == [accepted.json()["id"]]
        wait_all_final(client, [accepted.json()["id"]])


@pytest.mark.parametrize("bad_key", ["", "k" * 201])
def test_an_empty_or_overlong_idempotency_key_is_400(stack: Stack, bad_key: str) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=10)
    with stack.client(key) as client:
        response = submit(client, PHOTO, key=bad_key)
        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()["error"]["message"]
        assert balance(client) == 10
        assert jobs(client) == []


def test_concurrent_retries_with_one_key_make_one_job_and_one_charge(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=10)
    together = threading.Barrier(8)
    with stack.client(key) as client:

        def attempt(_: int) -> httpx.Response:
            together.wait()
            return submit(client, PHOTO, key="double-click")

        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(attempt, range(8)))
        assert {r.status_code for r in responses} <= {200, 202}, [r.text for r in responses]
        assert 202 in {r.status_code for r in responses}
        job_ids = {r.json()["id"] for r in responses}
        assert len(job_ids) == 1
        assert balance(client) == 8
        assert [job["id"] for job in jobs(client)] == list(job_ids)
        assert reserves(client) == list(job_ids)
        wait_all_final(client, list(job_ids))


# --- a crowd of submissions ----------------------------------------------------------------


def test_hundred_concurrent_submissions_with_credits_for_eight_charge_exactly_eight(
    stack: Stack,
) -> None:
    """Every 202 is charged, every 402 is not, and the balance never goes below zero (eight
    restores at 2 each: under the paid tier's cap of 10 jobs in progress)."""
    user_id, key = stack.new_user(tier=Tier.PAID, credits=16)
    together = threading.Barrier(100)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    with httpx.Client(
        base_url=stack.api_url,
        headers={"Authorization": f"Bearer {key}"},
        limits=limits,
        timeout=60.0,
    ) as client:

        def attempt(_: int) -> httpx.Response:
            together.wait()
            return submit(client, PHOTO)

        with ThreadPoolExecutor(max_workers=100) as pool:
            responses = list(pool.map(attempt, range(100)))

        outcomes = Counter(r.status_code for r in responses)
        assert outcomes == Counter({202: 8, 402: 92}), {r.status_code: r.text for r in responses}
        accepted = sorted(r.json()["id"] for r in responses if r.status_code == 202)
        assert all(r.json()["credits_charged"] == 2 for r in responses if r.status_code == 202)
        assert {r.json()["error"]["code"] for r in responses if r.status_code == 402} == {
            "insufficient_credits"
        }
        assert balance(client) == 0
        assert stack.services.credits.check_consistency([user_id]) == []
        assert sorted(job["id"] for job in jobs(client)) == accepted
        assert sorted(reserves(client)) == accepted

        wait_all_final(client, accepted)
        assert {job["status"] for job in jobs(client)} == {"completed"}
        assert balance(client) == 0


def test_a_conflicting_upload_racing_the_first_never_replaces_its_photo(stack: Stack) -> None:
    """The 409 loser of a same-key race must not overwrite the accepted job's original."""
    _, key = stack.new_user(tier=Tier.PAID, credits=40)
    accepted: list[str] = []
    with stack.client(key) as client:
        for trial in range(6):
            together = threading.Barrier(2)

            def attempt(
                photo: bytes, barrier: threading.Barrier = together, trial: int = trial
            ) -> httpx.Response:
                barrier.wait()
                return submit(client, photo, key=f"race-{trial}")

            photos = (PHOTO, OTHER_PHOTO)
            with ThreadPoolExecutor(max_workers=2) as pool:
                responses = dict(zip(photos, pool.map(attempt, photos), strict=True))
            codes = sorted(r.status_code for r in responses.values())
            assert codes == [202, 409], [r.text for r in responses.values()]
            photo, winner = next((p, r) for p, r in responses.items() if r.status_code == 202)
            job = stack.services.jobs.get(winner.json()["id"])
            # A retry of this job re-runs the stored original: it must be the accepted photo.
            assert stack.services.storage.get(job.original_key) == photo, f"trial {trial}"
            accepted.append(job.id)
        assert balance(client) == 40 - 2 * len(accepted)
        wait_all_final(client, accepted)


def test_the_database_refuses_a_second_job_under_one_key_and_charges_nothing(
    stack: Stack,
) -> None:
    """Two reservations under one key with different bodies: the second rolls back whole."""
    user_id, _ = stack.new_user(tier=Tier.PAID, credits=10)

    def reservation(request_hash: str) -> NewJob:
        job_id = uuid.uuid4().hex
        return NewJob(
            job_id=job_id,
            user_id=user_id,
            operations="restore",
            tier=Tier.PAID,
            original_key=f"users/{user_id}/jobs/{job_id}/original.jpg",
            idempotency_key="one-key",
            request_hash=request_hash,
        )

    first = reservation("a" * 64)
    stack.services.credits.reserve(first)
    second = reservation("b" * 64)
    with pytest.raises(IdempotencyKeyReused):
        stack.services.credits.reserve(second)
    assert stack.services.credits.balance(user_id) == 8
    assert stack.services.jobs.find(second.job_id) is None
    newest = stack.services.credits.history(user_id, limit=1)
    assert [(line.kind, line.job_id) for line in newest] == [("reserve", first.job_id)]
    assert stack.services.credits.check_consistency([user_id]) == []
