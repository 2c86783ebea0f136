"""A job may ask for several candidates: one model run each, each with its own seed, priced
per candidate from the tier's rules; the owner chooses which becomes the result, and the
others are deleted with it."""

from __future__ import annotations

import httpx
from sqlmodel import col, select

from heirloom.db.models import ModelAttempt
from heirloom.domain.seeds import job_seed, try_seed
from heirloom.domain.tiers import DEFAULT_TIER_RULES, Tier
from heirloom.services.storage.keys import candidate_key
from tests.conftest import Stack
from tests.support import balance, ledger_rows, photo_bytes, wait_final


def _submit(client: httpx.Client, candidates: int) -> httpx.Response:
    return client.post(
        "/v1/jobs",
        files={"file": ("photo.jpg", photo_bytes(96, 64, seed=61), "image/jpeg")},
        data={"operations": "restore", "candidates": str(candidates)},
    )


def test_three_candidates_run_three_seeds_charge_the_stated_price_and_one_is_chosen(
    stack: Stack,
) -> None:
    user_id, key = stack.new_user(tier=Tier.PAID, credits=20)
    rules = DEFAULT_TIER_RULES[Tier.PAID]
    stated = 2 + 2 * -(-2 * rules.candidate_price_percent // 100)  # restore: 2 credits
    with stack.client(key) as client:
        submitted = _submit(client, 3)
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        done = wait_final(client, job_id)
        assert done["status"] == "completed", done
        assert done["credits_charged"] == stated == 4
        assert balance(client) == 20 - stated
        assert ledger_rows(stack.services, job_id) == [("reserve", -stated)]

        seeds = [try_seed(job_seed(job_id), job_id, n) for n in (1, 2, 3)]
        assert len(set(seeds)) == 3
        assert [c["seed"] for c in done["candidates"]] == seeds
        assert [c["chosen"] for c in done["candidates"]] == [True, False, False]
        assert done["provenance"]["seed"] == seeds[0]

        jobs = stack.services.jobs
        # The CPU stand-in ignores seeds: which files the result is, is what tells them apart.
        assert jobs.get(job_id).result_key == candidate_key(user_id, job_id, 1, "result")
        second = client.get(f"/v1/jobs/{job_id}/candidates/2/result")
        assert second.status_code == 200
        chosen = client.post(f"/v1/jobs/{job_id}/choose", json={"candidate": 2})
        assert chosen.status_code == 200, chosen.text
        assert chosen.json()["provenance"]["seed"] == seeds[1]
        assert [c["chosen"] for c in chosen.json()["candidates"]] == [False, True, False]
        assert jobs.get(job_id).result_key == candidate_key(user_id, job_id, 2, "result")
        assert client.get(f"/v1/jobs/{job_id}/result").content == second.content
        missing = client.post(f"/v1/jobs/{job_id}/choose", json={"candidate": 4})
        assert missing.status_code == 400
        assert balance(client) == 20 - stated

        with stack.services.db.session() as session:
            attempts = session.exec(
                select(ModelAttempt).where(col(ModelAttempt.job_id) == job_id)
            ).all()
        assert sorted(a.model_try for a in attempts) == [1, 2, 3]
        actions = [entry.action for entry in stack.services.audit.query(user_id)]
        assert "choose" in actions

        files = [
            candidate_key(user_id, job_id, n, kind)
            for n in (1, 2, 3)
            for kind in ("result", "thumbnail", "comparison")
        ]
        storage = stack.services.storage
        assert all(storage.exists(key) for key in files)
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
        assert not any(storage.exists(key) for key in files)


def test_the_free_tier_may_not_ask_for_candidates_and_nothing_is_charged(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.FREE, credits=20)
    with stack.client(key) as client:
        refused = _submit(client, 2)
        assert refused.status_code == 400
        assert refused.json()["error"]["details"]["max_candidates"] == 1
        assert balance(client) == 20
        assert client.get("/v1/jobs").json()["jobs"] == []


def test_a_candidate_job_that_fails_refunds_its_whole_price_once(faults: Stack) -> None:
    stack = faults
    stack.set_faults(failed=1.0)
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client:
        submitted = _submit(client, 2)
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        done = wait_final(client, job_id)
        stack.set_faults()
        assert done["status"] == "failed"
        assert (done["credits_charged"], done["credits_refunded"]) == (3, 3)
        assert ledger_rows(stack.services, job_id) == [("refund", 3), ("reserve", -3)]
        assert balance(client) == 20
