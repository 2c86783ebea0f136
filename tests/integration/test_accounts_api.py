"""Accounts over HTTP: /v1/me, the credit ledger, public pricing, admin routes, tier limits."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from temporalio.client import Client

from heirloom.api.app import create_app
from heirloom.config import Settings
from heirloom.domain.packs import PACKS
from heirloom.domain.pricing import Prices, next_daily_reset
from heirloom.domain.tiers import Tier, TierRules
from heirloom.services.context import Services
from heirloom.services.money.credits import NewJob
from tests.conftest import Clock, Stack
from tests.support import photo_bytes, submit, wait_final

SMALL_PHOTO = photo_bytes(96, 64)
# The injected clock starts 30 s before this midnight (the `clock` fixture).
NEXT_MIDNIGHT = datetime(2026, 11, 26, tzinfo=UTC)


def me(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/v1/me")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ledger(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/v1/me/credits", params={"limit": 200})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


def task_queue_of(stack: Stack, job_id: str) -> str:
    """The Temporal task queue the job's workflow was started on."""

    async def describe() -> str:
        client = await Client.connect(
            stack.settings.temporal_address, namespace=stack.settings.temporal_namespace
        )
        return (await client.get_workflow_handle(job_id).describe()).task_queue

    # In its own thread: the test session's event loop must stay untouched.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, describe()).result()


def grant(
    admin: httpx.Client, user_id: str, amount: int, key: str, reason: str = "support"
) -> httpx.Response:
    return admin.post(
        f"/v1/admin/users/{user_id}/credits",
        json={"amount": amount, "reason": reason},
        headers={"Idempotency-Key": key},
    )


# --- /v1/me --------------------------------------------------------------------------------


def test_me_shows_tier_balance_and_todays_usage_against_the_limit(
    stack: Stack, clock: Clock
) -> None:
    user_id, key = stack.new_user(tier=Tier.FREE, credits=7)
    with stack.client(key) as client:
        fresh = me(client)
        assert fresh["id"] == user_id
        assert (fresh["tier"], fresh["role"], fresh["balance"]) == ("free", "user", 7)
        assert (fresh["jobs_today"], fresh["daily_job_limit"]) == (0, 3)
        resets_at = datetime.fromisoformat(fresh["daily_limit_resets_at"])
        assert resets_at == next_daily_reset(clock()) == NEXT_MIDNIGHT
        assert "api_key_hash" not in fresh

        job = submit(client, SMALL_PHOTO)
        assert job.status_code == 202, job.text
        after_one = me(client)
        assert (after_one["jobs_today"], after_one["balance"]) == (1, 5)
        wait_final(client, job.json()["id"])


def test_refused_submissions_do_not_use_up_the_daily_allowance(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.FREE, credits=3)
    with stack.client(key) as client:
        first = submit(client, SMALL_PHOTO)
        assert first.status_code == 202, first.text
        refused = submit(client, SMALL_PHOTO)  # 1 credit left, restore costs 2
        assert refused.status_code == 402
        assert me(client)["jobs_today"] == 1
        wait_final(client, first.json()["id"])


def test_a_failed_and_refunded_job_gives_its_daily_slot_back(faults: Stack) -> None:
    stack = faults
    stack.set_faults(failed=1.0)
    _, key = stack.new_user(tier=Tier.FREE, credits=5)
    with stack.client(key) as client:
        job = submit(client, SMALL_PHOTO)
        assert job.status_code == 202, job.text
        assert wait_final(client, job.json()["id"])["status"] == "failed"
        account = me(client)
        assert (account["jobs_today"], account["balance"]) == (0, 5)


@pytest.mark.parametrize("tier", [Tier.PAID, Tier.FOREVER])
def test_paid_and_forever_users_have_a_daily_limit_too(stack: Stack, tier: Tier) -> None:
    _, key = stack.new_user(tier=tier, credits=0)
    with stack.client(key) as client:
        assert me(client)["daily_job_limit"] == 100


# --- daily limit through the API -----------------------------------------------------------


def test_free_tier_fourth_job_of_the_day_is_429_and_charges_nothing(
    stack: Stack, clock: Clock
) -> None:
    _, key = stack.new_user(tier=Tier.FREE, credits=20)
    with stack.client(key) as client:
        accepted = [submit(client, SMALL_PHOTO) for _ in range(3)]
        assert [r.status_code for r in accepted] == [202, 202, 202]
        refused = submit(client, SMALL_PHOTO)
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "daily_limit_reached"
        assert "3 jobs per day" in error["message"]
        assert error["details"]["limit"] == 3
        resets_at = datetime.fromisoformat(error["details"]["resets_at"])
        assert resets_at == NEXT_MIDNIGHT
        assert "2026-11-26 00:00 UTC" in error["message"]

        account = me(client)
        assert (account["balance"], account["jobs_today"]) == (14, 3)
        assert len(client.get("/v1/jobs").json()["jobs"]) == 3
        assert [e["kind"] for e in ledger(client)].count("reserve") == 3
        for response in accepted:
            wait_final(client, response.json()["id"])


def test_the_daily_limit_starts_again_at_utc_midnight(stack: Stack, clock: Clock) -> None:
    _, key = stack.new_user(tier=Tier.FREE, credits=20)
    with stack.client(key) as client:
        accepted = [submit(client, SMALL_PHOTO) for _ in range(3)]
        assert [r.status_code for r in accepted] == [202, 202, 202]
        assert submit(client, SMALL_PHOTO).status_code == 429
        # Today's jobs end first: the free tier's cap on jobs in progress (also 3) is not the
        # rule under test.
        for response in accepted:
            wait_final(client, response.json()["id"])
        clock.now = NEXT_MIDNIGHT + timedelta(seconds=1)
        assert me(client)["jobs_today"] == 0
        tomorrow = submit(client, SMALL_PHOTO)
        assert tomorrow.status_code == 202, tomorrow.text
        account = me(client)
        assert (account["jobs_today"], account["balance"]) == (1, 12)
        assert datetime.fromisoformat(
            account["daily_limit_resets_at"]
        ) == NEXT_MIDNIGHT + timedelta(days=1)
        wait_final(client, tomorrow.json()["id"])


# --- /v1/me/credits ------------------------------------------------------------------------


def test_credit_history_pages_newest_first_with_before_id(stack: Stack) -> None:
    user_id, key = stack.new_user(tier=Tier.PAID, credits=1)
    with stack.client(stack.admin_key) as admin:
        for i in range(4):
            assert grant(admin, user_id, i + 1, f"page-{i}", f"grant {i}").status_code == 200
    with stack.client(key) as client:
        reasons: list[str] = []
        ids: list[int] = []
        pages: list[int] = []
        before_id: int | None = None
        while True:
            params: dict[str, int] = {"limit": 2}
            if before_id is not None:
                params["before_id"] = before_id
            page = client.get("/v1/me/credits", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            pages.append(len(body["entries"]))
            reasons += [entry["reason"] for entry in body["entries"]]
            ids += [entry["id"] for entry in body["entries"]]
            before_id = body["next_before_id"]
            if before_id is None:
                break
            assert before_id == ids[-1]
        assert pages == [2, 2, 1]
        assert reasons == ["grant 3", "grant 2", "grant 1", "grant 0", "starting credits"]
        assert ids == sorted(ids, reverse=True)
        assert me(client)["balance"] == 1 + 1 + 2 + 3 + 4


def test_credit_history_ends_with_an_empty_page_when_the_last_page_is_full(stack: Stack) -> None:
    user_id, key = stack.new_user(tier=Tier.PAID, credits=1)
    with stack.client(stack.admin_key) as admin:
        assert grant(admin, user_id, 1, "exact-1").status_code == 200
    with stack.client(key) as client:
        full = client.get("/v1/me/credits", params={"limit": 2}).json()
        assert len(full["entries"]) == 2
        assert full["next_before_id"] == full["entries"][-1]["id"]
        rest = client.get(
            "/v1/me/credits", params={"limit": 2, "before_id": full["next_before_id"]}
        ).json()
        assert rest == {"entries": [], "next_cursor": None, "next_before_id": None}


def test_credit_history_shows_job_charges_and_only_the_callers_rows(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=10)
    _, other_key = stack.new_user(tier=Tier.PAID, credits=3)
    with stack.client(key) as client:
        job = submit(client, SMALL_PHOTO, "restore,colorize").json()
        newest = ledger(client)[0]
        assert (newest["kind"], newest["amount"], newest["job_id"]) == ("reserve", -4, job["id"])
        assert "restore,colorize" in newest["reason"]
        assert sum(entry["amount"] for entry in ledger(client)) == me(client)["balance"] == 6
        wait_final(client, job["id"])
    with stack.client(other_key) as other:
        entries = ledger(other)
        assert [(e["kind"], e["amount"], e["job_id"]) for e in entries] == [("grant", 3, None)]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"before_id": 0}])
def test_credit_history_refuses_bad_paging(stack: Stack, params: dict[str, int]) -> None:
    _, key = stack.new_user(credits=0)
    with stack.client(key) as client:
        response = client.get("/v1/me/credits", params=params)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_request"


# --- /v1/pricing ---------------------------------------------------------------------------


def expected_pricing(settings: Settings) -> dict[str, Any]:
    return {
        "currency": "credits",
        "prices": {
            "restore": settings.prices.restore,
            "colorize": settings.prices.colorize,
            "restore,colorize": settings.prices.restore_colorize,
        },
        "cancel_kept_percent": settings.prices.cancel_kept_percent,
        "cancel_rule": settings.prices.cancel_rule(),
        "tiers": [
            {"tier": tier.value, "task_queue": tier.task_queue, **rules.model_dump()}
            for tier, rules in settings.tier_rules.items()
        ],
        "packs": [pack.model_dump(mode="json") for pack in PACKS],
    }


def test_pricing_is_public_and_lists_the_documented_prices_and_tiers(stack: Stack) -> None:
    with stack.client() as anonymous:
        response = anonymous.get("/v1/pricing")
    assert response.status_code == 200
    body = response.json()
    assert body == expected_pricing(stack.settings)
    assert body["prices"] == {"restore": 2, "colorize": 3, "restore,colorize": 4}
    assert body["cancel_kept_percent"] == 50
    tiers = {tier["tier"]: tier for tier in body["tiers"]}
    assert {name: t["task_queue"] for name, t in tiers.items()} == {
        "free": "heirloom-free",
        "paid": "heirloom-paid",
        "forever": "heirloom-forever",
    }
    assert (tiers["free"]["daily_job_limit"], tiers["free"]["output_long_side"]) == (3, 854)
    assert (tiers["paid"]["daily_job_limit"], tiers["paid"]["max_active_jobs"]) == (100, 10)


# --- prices and limits from settings -------------------------------------------------------

REPRICED = Prices(restore=5, colorize=6, restore_colorize=9, cancel_kept_percent=20)
ONE_A_DAY = TierRules(output_long_side=640, watermark=True, model_attempts=2, daily_job_limit=1)


@pytest.fixture
def repriced(stack: Stack, tmp_path: Path) -> Iterator[tuple[TestClient, Services]]:
    """A second API on the stack's database and Temporal, with other prices and limits."""
    settings = Settings(
        home=tmp_path / "repriced",
        database_url=stack.settings.database_url,
        temporal_address=stack.settings.temporal_address,
        temporal_namespace=stack.settings.temporal_namespace,
        prices=REPRICED,
        tier_rules={Tier.FREE: ONE_A_DAY},
    )
    services = Services.build(settings)
    try:
        with TestClient(create_app(settings, services=services)) as client:
            yield client, services
    finally:
        services.close()


def test_prices_and_limits_from_settings_reach_the_pricing_route(
    repriced: tuple[TestClient, Services],
) -> None:
    client, services = repriced
    body = client.get("/v1/pricing").json()
    assert body == expected_pricing(services.settings)
    assert body["prices"] == {"restore": 5, "colorize": 6, "restore,colorize": 9}
    assert body["cancel_kept_percent"] == 20
    assert "20% of the price" in body["cancel_rule"]
    free = next(tier for tier in body["tiers"] if tier["tier"] == "free")
    assert (free["output_long_side"], free["daily_job_limit"]) == (640, 1)


def test_prices_from_settings_decide_the_api_refusal_and_the_charge(
    stack: Stack, repriced: tuple[TestClient, Services]
) -> None:
    client, services = repriced
    user_id, key = stack.new_user(tier=Tier.PAID, credits=8)
    auth = {"Authorization": f"Bearer {key}"}
    # Default prices would accept this (cost 4); the repriced API asks 9.
    refused = client.post(
        "/v1/jobs",
        files={"file": ("photo.jpg", SMALL_PHOTO, "image/jpeg")},
        data={"operations": "restore,colorize"},
        headers=auth,
    )
    assert refused.status_code == 402
    assert "costs 9 credits but your balance is 8" in refused.json()["error"]["message"]
    assert services.credits.quote(user_id, "colorize").cost == 6

    # The reservation the workflow runs applies the same prices.
    job_id = uuid.uuid4().hex
    reservation = services.credits.reserve(
        NewJob(
            job_id=job_id,
            user_id=user_id,
            operations="colorize",
            tier=Tier.PAID,
            original_key=f"users/{user_id}/jobs/{job_id}/original.jpg",
        )
    )
    assert (reservation.cost, reservation.balance) == (6, 2)
    assert services.credits.check_consistency([user_id]) == []


def test_daily_limit_from_settings_decides_the_429(
    stack: Stack, repriced: tuple[TestClient, Services]
) -> None:
    client, _ = repriced
    _, key = stack.new_user(tier=Tier.FREE, credits=20)
    auth = {"Authorization": f"Bearer {key}"}
    with stack.client(key) as default_api:
        first = submit(default_api, SMALL_PHOTO)
        assert first.status_code == 202, first.text
        assert me(default_api)["daily_job_limit"] == 3
        account = client.get("/v1/me", headers=auth).json()
        assert (account["jobs_today"], account["daily_job_limit"]) == (1, 1)
        refused = client.post(
            "/v1/jobs",
            files={"file": ("photo.jpg", SMALL_PHOTO, "image/jpeg")},
            data={"operations": "restore"},
            headers=auth,
        )
        assert refused.status_code == 429
        assert refused.json()["error"]["details"]["limit"] == 1
        assert me(default_api)["balance"] == 18
        wait_final(default_api, first.json()["id"])


# --- admin: users --------------------------------------------------------------------------


def test_admin_creates_a_user_whose_key_works_once_shown(stack: Stack) -> None:
    email = f"New.User.{uuid.uuid4().hex[:8]}@Example.com"
    with stack.client(stack.admin_key) as admin:
        response = admin.post(
            "/v1/admin/users", json={"email": email, "tier": "paid", "credits": 12}
        )
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"id", "email", "tier", "role", "balance", "api_key"}
    assert created["email"] == email.lower()
    assert (created["tier"], created["role"], created["balance"]) == ("paid", "user", 12)
    assert created["api_key"].startswith("hl_")
    with stack.client(created["api_key"]) as client:
        account = me(client)
        assert (account["id"], account["tier"], account["balance"]) == (created["id"], "paid", 12)
        assert [(e["kind"], e["amount"]) for e in ledger(client)] == [("grant", 12)]


def test_admin_creates_a_free_user_with_no_credits_by_default(stack: Stack) -> None:
    with stack.client(stack.admin_key) as admin:
        response = admin.post(
            "/v1/admin/users", json={"email": f"{uuid.uuid4().hex[:8]}@example.com"}
        )
    assert response.status_code == 201, response.text
    assert (response.json()["tier"], response.json()["balance"]) == ("free", 0)
    with stack.client(response.json()["api_key"]) as client:
        assert ledger(client) == []


def test_creating_a_user_with_a_taken_email_is_409(stack: Stack) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    with stack.client(stack.admin_key) as admin:
        assert admin.post("/v1/admin/users", json={"email": email}).status_code == 201
        again = admin.post("/v1/admin/users", json={"email": email.upper(), "credits": 50})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert email in again.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email"},
        {"email": "a@example.com", "tier": "gold"},
        {"email": "a@example.com", "credits": -5},
        {"tier": "paid"},
    ],
)
def test_creating_a_user_with_an_invalid_body_is_400(stack: Stack, body: dict[str, Any]) -> None:
    with stack.client(stack.admin_key) as admin:
        response = admin.post("/v1/admin/users", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


# --- admin: grants -------------------------------------------------------------------------


def test_grant_adds_credits_and_shows_the_ledger_entry(stack: Stack) -> None:
    user_id, key = stack.new_user(credits=0)
    with stack.client(stack.admin_key) as admin:
        response = grant(admin, user_id, 25, "grant-1", "goodwill")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["balance"] == 25
    assert (body["entry"]["kind"], body["entry"]["amount"]) == ("grant", 25)
    assert (body["entry"]["reason"], body["entry"]["job_id"]) == ("goodwill", None)
    with stack.client(key) as client:
        assert me(client)["balance"] == 25
        assert ledger(client) == [body["entry"]]


def test_repeated_grant_with_the_same_key_adds_credits_once(stack: Stack) -> None:
    user_id, key = stack.new_user(credits=0)
    with stack.client(stack.admin_key) as admin:
        first = grant(admin, user_id, 10, "once")
        second = grant(admin, user_id, 10, "once")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    with stack.client(key) as client:
        assert me(client)["balance"] == 10
        assert len(ledger(client)) == 1


def test_grant_reusing_a_key_with_another_amount_is_409(stack: Stack) -> None:
    user_id, key = stack.new_user(credits=0)
    with stack.client(stack.admin_key) as admin:
        assert grant(admin, user_id, 10, "promo").status_code == 200
        reused = grant(admin, user_id, 50, "promo")
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    with stack.client(key) as client:
        assert me(client)["balance"] == 10
        assert len(ledger(client)) == 1


def test_the_same_grant_key_for_two_users_grants_both(stack: Stack) -> None:
    first_id, first_key = stack.new_user(credits=0)
    second_id, second_key = stack.new_user(credits=0)
    with stack.client(stack.admin_key) as admin:
        assert grant(admin, first_id, 4, "monthly").status_code == 200
        assert grant(admin, second_id, 6, "monthly").status_code == 200
    for key, expected in ((first_key, 4), (second_key, 6)):
        with stack.client(key) as client:
            assert me(client)["balance"] == expected


def test_grant_without_an_idempotency_key_is_400_and_grants_nothing(stack: Stack) -> None:
    user_id, key = stack.new_user(credits=0)
    with stack.client(stack.admin_key) as admin:
        response = admin.post(
            f"/v1/admin/users/{user_id}/credits", json={"amount": 5, "reason": "x"}
        )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["message"]
    with stack.client(key) as client:
        assert me(client)["balance"] == 0


@pytest.mark.parametrize(
    "body", [{"amount": 0, "reason": "x"}, {"amount": -3, "reason": "x"}, {"amount": 5}]
)
def test_grant_with_an_invalid_body_is_400(stack: Stack, body: dict[str, Any]) -> None:
    user_id, key = stack.new_user(credits=2)
    with stack.client(stack.admin_key) as admin:
        response = admin.post(
            f"/v1/admin/users/{user_id}/credits", json=body, headers={"Idempotency-Key": "k"}
        )
    assert response.status_code == 400
    with stack.client(key) as client:
        assert me(client)["balance"] == 2


def test_grant_to_an_unknown_user_is_404(stack: Stack) -> None:
    with stack.client(stack.admin_key) as admin:
        response = grant(admin, uuid.uuid4().hex, 5, "ghost")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- admin: tier changes -------------------------------------------------------------------


def test_tier_change_applies_to_me_and_to_the_next_job(stack: Stack) -> None:
    user_id, key = stack.new_user(tier=Tier.FREE, credits=20)
    photo = photo_bytes(1600, 1200)
    with stack.client(key) as client:
        free_job = wait_final(client, submit(client, photo).json()["id"])
        assert free_job["tier"] == "free"
        assert (free_job["width"], free_job["height"]) == (640, 480)  # 4:3 within 854x480
        assert task_queue_of(stack, free_job["id"]) == "heirloom-free"

        with stack.client(stack.admin_key) as admin:
            changed = admin.patch(f"/v1/admin/users/{user_id}", json={"tier": "paid"})
        assert changed.status_code == 200, changed.text
        assert (changed.json()["id"], changed.json()["tier"]) == (user_id, "paid")
        account = me(client)
        assert (account["tier"], account["daily_job_limit"]) == ("paid", 100)

        paid_job = wait_final(client, submit(client, photo).json()["id"])
        assert paid_job["status"] == "completed", paid_job
        assert paid_job["tier"] == "paid"
        assert task_queue_of(stack, paid_job["id"]) == "heirloom-paid"
        result = Image.open(io.BytesIO(client.get(paid_job["result_url"]).content))
        assert result.size == (960, 720)  # 4:3 within 1280x720
        # The finished free job keeps what it was made with.
        assert client.get(f"/v1/jobs/{free_job['id']}").json()["tier"] == "free"


def test_downgrade_to_free_brings_back_the_daily_limit(stack: Stack) -> None:
    user_id, key = stack.new_user(tier=Tier.PAID, credits=0)
    with stack.client(stack.admin_key) as admin:
        assert admin.patch(f"/v1/admin/users/{user_id}", json={"tier": "free"}).status_code == 200
    with stack.client(key) as client:
        assert me(client)["daily_job_limit"] == 3


def test_tier_change_of_an_unknown_user_is_404(stack: Stack) -> None:
    with stack.client(stack.admin_key) as admin:
        response = admin.patch(f"/v1/admin/users/{uuid.uuid4().hex}", json={"tier": "paid"})
    assert response.status_code == 404


def test_tier_change_to_an_unknown_tier_is_400(stack: Stack) -> None:
    user_id, key = stack.new_user(tier=Tier.FREE, credits=0)
    with stack.client(stack.admin_key) as admin:
        response = admin.patch(f"/v1/admin/users/{user_id}", json={"tier": "platinum"})
    assert response.status_code == 400
    with stack.client(key) as client:
        assert me(client)["tier"] == "free"


# --- admin: who may call -------------------------------------------------------------------


def admin_calls(user_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("POST", "/v1/admin/users", {"json": {"email": f"{uuid.uuid4().hex[:8]}@example.com"}}),
        (
            "POST",
            f"/v1/admin/users/{user_id}/credits",
            {"json": {"amount": 100, "reason": "self"}, "headers": {"Idempotency-Key": "self"}},
        ),
        ("PATCH", f"/v1/admin/users/{user_id}", {"json": {"tier": "forever"}}),
    ]


def test_admin_routes_refuse_a_user_key_with_403_and_change_nothing(stack: Stack) -> None:
    user_id, key = stack.new_user(tier=Tier.FREE, credits=1)
    with stack.client(key) as client:
        for method, path, kwargs in admin_calls(user_id):
            response = client.request(method, path, **kwargs)
            assert response.status_code == 403, path
            assert response.json()["error"]["code"] == "forbidden"
        account = me(client)
        assert (account["tier"], account["balance"]) == ("free", 1)


@pytest.mark.parametrize("api_key", [None, "hl_not-a-real-key"])
def test_admin_routes_without_a_valid_key_are_401(stack: Stack, api_key: str | None) -> None:
    user_id, _ = stack.new_user(credits=0)
    with stack.client(api_key) as client:
        for method, path, kwargs in admin_calls(user_id):
            response = client.request(method, path, **kwargs)
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("path", ["/v1/me", "/v1/me/credits"])
def test_account_routes_without_a_key_are_401(stack: Stack, path: str) -> None:
    with stack.client() as anonymous:
        response = anonymous.get(path)
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["error"]["message"]
