"""The operators' user list and the owner's job filter, the routes the web app's pages read."""

from __future__ import annotations

from collections.abc import Callable

from heirloom.domain.tiers import Tier
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
