"""The operators' user list and the owner's job filter, the routes the web app's pages read."""

from __future__ import annotations

from collections.abc import Callable

from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from tests.conftest import ServedApi
from tests.support import completed_job

ServeApi = Callable[..., ServedApi]


def test_admin_lists_users_newest_first_with_their_job_counts(serve_api: ServeApi) -> None:
    api = serve_api()
    older_id, _ = api.new_user(tier=Tier.PAID, credits=30)
    newer_id, _ = api.new_user(credits=5)
    completed_job(api.services, older_id, size=10)
    completed_job(api.services, older_id, size=10)
    with api.client(api.admin_key) as admin:
        page = admin.get("/v1/admin/users", params={"limit": 2})
        assert page.status_code == 200, page.text
        body = page.json()
        assert (body["limit"], body["offset"]) == (2, 0)
        assert [(u["id"], u["jobs"]) for u in body["users"]] == [(newer_id, 0), (older_id, 2)]
        older = body["users"][1]
        assert (older["tier"], older["balance"], older["role"]) == ("paid", 26, "user")
        rest = admin.get("/v1/admin/users", params={"limit": 2, "offset": 2}).json()
        assert [u["email"] for u in rest["users"]] == ["admin@example.com"]

        email = older["email"]
        found = admin.get("/v1/admin/users", params={"email": email[:6].upper()}).json()
        assert [u["id"] for u in found["users"]] == [older_id]
        # LIKE's wildcards are matched as themselves.
        assert admin.get("/v1/admin/users", params={"email": "%"}).json()["users"] == []


def test_jobs_list_filters_by_status(serve_api: ServeApi) -> None:
    api = serve_api()
    user_id, key = api.new_user(tier=Tier.PAID, credits=30)
    done = completed_job(api.services, user_id, size=10)
    with api.client(key) as client:
        completed = client.get("/v1/jobs", params={"status": "completed"}).json()["jobs"]
        assert [job["id"] for job in completed] == [done]
        assert client.get("/v1/jobs", params={"status": "failed"}).json()["jobs"] == []
        assert client.get("/v1/jobs", params={"status": "lost"}).status_code == 422


def test_the_user_page_counts_jobs_on_each_database(services: Services) -> None:
    first = services.accounts.create(email="first_1@example.com", tier=Tier.PAID, credits=10)
    second = services.accounts.create(email="second%@example.com", tier=Tier.FREE)
    completed_job(services, first.user.id, size=10)
    page = services.accounts.page(limit=10)
    assert [(row.user.id, row.jobs) for row in page] == [
        (second.user.id, 0),
        (first.user.id, 1),
    ]
    assert [row.user.id for row in services.accounts.page(limit=10, offset=1)] == [first.user.id]
    # `_` and `%` are themselves, not LIKE's wildcards.
    assert [row.user.id for row in services.accounts.page(limit=10, email_contains="T_1")] == [
        first.user.id
    ]
    assert [row.user.id for row in services.accounts.page(limit=10, email_contains="d%")] == [
        second.user.id
    ]
    assert services.accounts.page(limit=10, email_contains="t%") == []
