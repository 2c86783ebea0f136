"""Rate limits over real HTTP: per key and tier, uploads, failed authentication, per address,
in process and shared through Redis by two API instances; the in-progress job cap."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis

from heirloom.config import Settings
from heirloom.domain.errors import TooManyActiveJobs
from heirloom.domain.jobs import JobStatus
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.money.credits import NewJob
from tests.conftest import ServedApi
from tests.harness.required import unavailable
from tests.support import submit

REDIS_URL = "redis://127.0.0.1:6379/0"

ServeApi = Callable[..., ServedApi]


def _refusal(response: httpx.Response, policy: str) -> None:
    """A 429 `rate_limited` naming the budget, with Retry-After and the RateLimit fields."""
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    assert f'"{policy}";r=0;t=' in response.headers["RateLimit"]


def test_key_budget_follows_the_tier_and_answers_429_with_headers(serve_api: ServeApi) -> None:
    api = serve_api(tier_rules={"free": {"rate_limit": "3/hour"}, "paid": {"rate_limit": "5/hour"}})
    _, free_key = api.new_user(tier=Tier.FREE)
    _, paid_key = api.new_user(tier=Tier.PAID)
    with api.client(free_key) as free, api.client(paid_key) as paid:
        answers = [free.get("/v1/me") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert answers[0].headers["RateLimit-Policy"].split(", ")[1] == '"user";q=3;w=3600'
        assert [a.headers["RateLimit"].split(", ")[1].split(";")[1] for a in answers] == [
            "r=2",
            "r=1",
            "r=0",
        ]
        refused = free.get("/v1/me")
        _refusal(refused, "user")
        assert int(refused.headers["Retry-After"]) <= 3600
        # Another user (and tier) has its own budget.
        assert [paid.get("/v1/me").status_code for _ in range(5)] == [200] * 5
        _refusal(paid.get("/v1/me"), "user")


def test_the_budget_is_the_users_across_all_their_keys(serve_api: ServeApi) -> None:
    api = serve_api(tier_rules={"free": {"rate_limit": "4/hour"}})
    user_id, first_key = api.new_user(tier=Tier.FREE)
    second_key = api.services.keys.create(user_id, "second").api_key
    with api.client(first_key) as first, api.client(second_key) as second:
        assert [first.get("/v1/me").status_code for _ in range(2)] == [200, 200]
        assert [second.get("/v1/me").status_code for _ in range(2)] == [200, 200]
        _refusal(second.get("/v1/me"), "user")
        _refusal(first.get("/v1/me"), "user")
    # Revoking a key and making a new one resets nothing.
    api.services.keys.revoke(api.services.keys.owned_by(user_id)[0].id)
    fresh_key = api.services.keys.create(user_id, "fresh").api_key
    with api.client(fresh_key) as fresh:
        _refusal(fresh.get("/v1/me"), "user")


def test_uploads_have_a_stricter_budget(serve_api: ServeApi) -> None:
    api = serve_api(rate_limit_uploads="2/hour")
    _, key = api.new_user()
    with api.client(key) as client:
        # Not images: refused after the budget was spent, so nothing is charged or stored.
        first, second = submit(client, b"not a photo"), submit(client, b"not a photo")
        assert [first.status_code, second.status_code] == [400, 400]
        _refusal(submit(client, b"not a photo"), "upload")
        assert client.get("/v1/me").status_code == 200  # other routes keep their budget


def test_failed_authentications_exhaust_the_address_budget(serve_api: ServeApi) -> None:
    api = serve_api(rate_limit_auth_failures="3/hour")
    _, key = api.new_user()
    with api.client("hl_wrong") as wrong, api.client(key) as right:
        assert [wrong.get("/v1/me").status_code for _ in range(3)] == [401, 401, 401]
        _refusal(wrong.get("/v1/me"), "auth-failure")
        _refusal(wrong.get("/v1/me"), "auth-failure")
        # A guesser behind a shared address cannot lock out its valid keys.
        assert [right.get("/v1/me").status_code for _ in range(3)] == [200, 200, 200]
    with api.client("hl_wrong", address="127.0.0.2") as elsewhere:
        assert elsewhere.get("/v1/me").status_code == 401


def test_every_request_spends_the_address_budget(serve_api: ServeApi) -> None:
    api = serve_api(rate_limit_address="4/hour")
    with api.client() as client:
        assert [client.get("/healthz").status_code for _ in range(4)] == [200] * 4
        _refusal(client.get("/v1/pricing"), "address")


def test_public_share_pages_spend_a_budget_per_address(serve_api: ServeApi) -> None:
    """The public share routes carry no key: each client address has its own budget, so one
    address guessing tokens is refused while another visitor still gets through."""
    api = serve_api(rate_limit_share="2/hour")
    token = "x" * 43
    with api.client(address="127.0.0.7") as guesser:
        assert [guesser.get(f"/s/{token}").status_code for _ in range(2)] == [404, 404]
        _refusal(guesser.get(f"/s/{token}/result"), "share")
    with api.client(address="127.0.0.8") as visitor:
        assert visitor.get(f"/s/{token}").status_code == 404


def test_limits_can_be_switched_off(serve_api: ServeApi) -> None:
    api = serve_api(rate_limits_enabled=False, rate_limit_address="1/hour")
    with api.client() as client:
        answers = [client.get("/healthz") for _ in range(3)]
    assert [a.status_code for a in answers] == [200] * 3
    assert "RateLimit" not in answers[0].headers


@pytest.fixture
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as err:
        unavailable(
            "redis",
            f"Redis does not answer at {REDIS_URL} ({err}); the shared-budget test needs it",
        )
    finally:
        client.close()
    return REDIS_URL


def test_two_api_processes_share_one_budget_through_redis(
    serve_api: ServeApi, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp("shared")
    namespace = f"test-{uuid.uuid4().hex}"
    shared = {
        "redis_url": redis_url,
        "rate_limit_namespace": namespace,
        "tier_rules": {"free": {"rate_limit": "4/hour"}},
    }
    first = serve_api(home, **shared)
    second = serve_api(home, **shared)
    assert first.services.limiter is not second.services.limiter
    _, key = first.new_user()
    with first.client(key) as a, second.client(key) as b:
        answers = [a.get("/v1/me"), b.get("/v1/me"), a.get("/v1/me"), b.get("/v1/me")]
        assert [r.status_code for r in answers] == [200] * 4
        _refusal(a.get("/v1/me"), "user")
        _refusal(b.get("/v1/me"), "user")


def test_without_redis_each_process_counts_alone(
    serve_api: ServeApi, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp("alone")
    rules = {"free": {"rate_limit": "2/hour"}}
    first, second = serve_api(home, tier_rules=rules), serve_api(home, tier_rules=rules)
    _, key = first.new_user()
    with first.client(key) as a, second.client(key) as b:
        assert [a.get("/v1/me").status_code for _ in range(3)] == [200, 200, 429]
        assert b.get("/v1/me").status_code == 200


def test_revoked_key_answers_401_at_once_on_every_process(
    serve_api: ServeApi, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp("revoke")
    first, second = serve_api(home), serve_api(home)
    _, key = first.new_user()
    with first.client(key) as a, second.client(key) as b:
        assert a.get("/v1/me").status_code == b.get("/v1/me").status_code == 200
        key_id = a.get("/v1/me/keys").json()["keys"][0]["id"]
        assert a.delete(f"/v1/me/keys/{key_id}").status_code == 204
        assert a.get("/v1/me").status_code == 401
        assert b.get("/v1/me").status_code == 401


# --- jobs in progress per tier --------------------------------------------------------------


def _job(user_id: str) -> NewJob:
    job_id = uuid.uuid4().hex
    return NewJob(
        job_id=job_id,
        user_id=user_id,
        operations="restore",
        tier=Tier.PAID,
        original_key=f"users/{user_id}/jobs/{job_id}/original.jpg",
    )


@pytest.fixture
def capped(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Services whose paid tier allows two jobs in progress."""
    settings = Settings(
        home=tmp_path_factory.mktemp("cap"),
        database_url=database_url,
        tier_rules={"paid": {"max_active_jobs": 2}},
    )
    services = Services.build(settings)
    yield services
    services.close()


def test_jobs_in_progress_are_capped_per_tier(capped: Services) -> None:
    services = capped
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    user = services.accounts.create(email=email, tier=Tier.PAID, credits=100).user.id
    first, second = _job(user), _job(user)
    services.credits.reserve(first)
    services.credits.reserve(second)
    with pytest.raises(TooManyActiveJobs) as refused:
        services.credits.quote(user, "restore")
    assert refused.value.http_status == 429
    with pytest.raises(TooManyActiveJobs):
        services.credits.reserve(_job(user))
    assert services.credits.balance(user) == 96  # the refused reservation charged nothing
    services.jobs.finish_unsuccessfully(first.job_id, JobStatus.FAILED, code="x", message="x")
    services.credits.reserve(_job(user))  # a finished job frees its slot
