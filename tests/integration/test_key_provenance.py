"""Keys with provenance: every key, share link and webhook change records the key that made
it, and revoking a key "with everything it created" ends all of that in one call."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import sqlalchemy as sa

from heirloom.db.models import CreditEntry, WebhookEndpoint, utcnow
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from tests.conftest import ServedApi
from tests.support import completed_job

ServeApi = Callable[..., ServedApi]


def new_key(api: ServedApi, by_key: str, name: str) -> tuple[str, str]:
    """A key created by `by_key`: (its id, the key)."""
    with api.client(by_key) as client:
        response = client.post("/v1/me/keys", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["api_key"]


def share(api: ServedApi, key: str, job_id: str) -> str:
    """A share link of the job made with `key`: its public path."""
    with api.client(key) as client:
        response = client.post(f"/v1/jobs/{job_id}/shares", json={})
    assert response.status_code == 201, response.text
    return "/s/" + str(response.json()["url"]).rpartition("/s/")[2]


def test_revoking_a_key_with_everything_it_created_ends_its_keys_shares_and_webhook(
    serve_api: ServeApi,
) -> None:
    api = serve_api(webhook_allow_private_targets=True)
    user_id, owner_key = api.new_user(tier=Tier.PAID, credits=50)
    [owner_info] = api.services.keys.owned_by(user_id)
    job_id = completed_job(api.services, user_id, size=1000)

    # A stolen key mints keys (which mint more), shares the photo and moves the webhook.
    stolen_id, stolen = new_key(api, owner_key, "laptop")
    minted_id, minted = new_key(api, stolen, "attacker")
    deeper_id, deeper = new_key(api, minted, "attacker 2")
    kept_id, kept = new_key(api, owner_key, "phone")
    stolen_shares = [share(api, stolen, job_id), share(api, minted, job_id)]
    owner_share = share(api, owner_key, job_id)
    with api.client(stolen) as client:
        moved = client.put("/v1/me/webhook", json={"url": "http://127.0.0.1:9/attacker"})
    assert moved.status_code == 200, moved.text

    with api.client(owner_key) as client:
        listed = {k["id"]: k for k in client.get("/v1/me/keys").json()["keys"]}
    assert listed[stolen_id]["created_by_key_id"] == owner_info.id
    assert listed[minted_id]["created_by_key_id"] == stolen_id
    assert listed[deeper_id]["created_by_key_id"] == minted_id
    assert listed[owner_info.id]["created_by_key_id"] is None
    with api.services.db.session() as session:
        webhook = session.get(WebhookEndpoint, user_id)
        assert webhook is not None
        assert webhook.updated_by_key_id == stolen_id

    with api.client(owner_key) as client:
        answer = client.post(f"/v1/me/keys/{stolen_id}/revoke", json={"cascade": True})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["revoked_key_ids"][0] == stolen_id
    assert set(body["revoked_key_ids"]) == {stolen_id, minted_id, deeper_id}
    assert len(body["revoked_share_ids"]) == 2
    assert body["webhook_removed"] is True

    for revoked in (stolen, minted, deeper):
        with api.client(revoked) as client:
            assert client.get("/v1/me").status_code == 401
    for alive in (owner_key, kept):
        with api.client(alive) as client:
            assert client.get("/v1/me").status_code == 200
    with httpx.Client(base_url=api.url) as anonymous:
        assert [anonymous.get(path).status_code for path in stolen_shares] == [410, 410]
        assert anonymous.get(owner_share).status_code == 200
    with api.client(owner_key) as client:
        assert client.get("/v1/me/webhook").json() is None
        keys = {k["id"]: k for k in client.get("/v1/me/keys").json()["keys"]}
        # Repeating it changes nothing and reports the same keys.
        again = client.post(f"/v1/me/keys/{stolen_id}/revoke", json={"cascade": True})
    assert set(again.json()["revoked_key_ids"]) == {stolen_id, minted_id, deeper_id}
    assert keys[kept_id]["revoked_at"] is None
    assert keys[minted_id]["revoked_reason"] == "revoked with what it created"


def test_revoking_without_cascade_ends_only_that_key(serve_api: ServeApi) -> None:
    api = serve_api(webhook_allow_private_targets=True)
    user_id, owner_key = api.new_user(tier=Tier.PAID, credits=50)
    job_id = completed_job(api.services, user_id, size=1000)
    laptop_id, laptop = new_key(api, owner_key, "laptop")
    child_id, child = new_key(api, laptop, "script")
    laptop_share = share(api, laptop, job_id)
    with api.client(owner_key) as client:
        answer = client.post(f"/v1/me/keys/{laptop_id}/revoke", json={})
    assert answer.status_code == 200
    assert answer.json() == {
        "revoked_key_ids": [laptop_id],
        "revoked_share_ids": [],
        "webhook_removed": False,
    }
    with api.client(laptop) as client:
        assert client.get("/v1/me").status_code == 401
    with api.client(child) as client:
        assert client.get("/v1/me").status_code == 200
    assert httpx.get(f"{api.url}{laptop_share}").status_code == 200
    # Another user's key is 404, cascade or not, and nothing changes.
    _, stranger = api.new_user()
    with api.client(stranger) as client:
        refused = client.post(f"/v1/me/keys/{child_id}/revoke", json={"cascade": True})
    assert refused.status_code == 404
    with api.services.db.session() as session:
        live = session.execute(
            sa.text("SELECT revoked_at FROM api_keys WHERE id = :id"), {"id": child_id}
        ).scalar_one()
    assert live is None


def test_share_links_record_the_key_that_made_them(serve_api: ServeApi) -> None:
    api = serve_api()
    user_id, owner_key = api.new_user(tier=Tier.PAID, credits=50)
    [owner_info] = api.services.keys.owned_by(user_id)
    job_id = completed_job(api.services, user_id, size=1000)
    share(api, owner_key, job_id)
    [made] = api.services.shares.list_for_job(user_id, job_id)
    assert made.created_by_key_id == owner_info.id


def test_admin_grants_and_tier_changes_record_the_admin_and_their_key(
    serve_api: ServeApi,
) -> None:
    api = serve_api()
    user_id, _ = api.new_user(tier=Tier.FREE, credits=0)
    admin = api.services.accounts.by_email("admin@example.com")
    assert admin is not None
    admin_key_id = next(
        k.id for k in api.services.keys.owned_by(admin.id) if k.name == "test admin"
    )
    with api.client(api.admin_key) as client:
        granted = client.post(
            f"/v1/admin/users/{user_id}/credits",
            json={"amount": 7, "reason": "support"},
            headers={"Idempotency-Key": "support-1"},
        )
        assert granted.status_code == 200, granted.text
        assert client.patch(f"/v1/admin/users/{user_id}", json={"tier": "paid"}).status_code == 200
    with api.services.db.session() as session:
        row = session.get(CreditEntry, granted.json()["entry"]["id"])
        assert row is not None
        assert (row.granted_by_user_id, row.granted_by_key_id) == (admin.id, admin_key_id)
    [change] = api.services.accounts.tier_changes(user_id)
    assert (change.from_tier, change.to_tier) == ("free", "paid")
    assert (change.changed_by_user_id, change.changed_by_key_id) == (admin.id, admin_key_id)


def test_the_cascade_on_each_database(services: Services) -> None:
    """The same revocation in the service, on SQLite and on PostgreSQL."""
    account = services.accounts.create(email="cascade@example.com", tier=Tier.PAID, credits=10)
    user_id = account.user.id
    [root] = services.keys.owned_by(user_id)
    child = services.keys.create(user_id, "child", created_by_key_id=root.id)
    grandchild = services.keys.create(user_id, "grandchild", created_by_key_id=child.info.id)
    sibling = services.keys.create(user_id, "sibling", created_by_key_id=root.id)
    job_id = completed_job(services, user_id, size=10)
    job = services.jobs.get(job_id)
    made = services.shares.create(
        job, expires_in_s=60, allow_download=False, now=utcnow(), created_by_key_id=child.info.id
    )
    services.webhooks.configure(user_id, None, ["job.completed"], by_key_id=grandchild.info.id)

    revoked = services.keys.revoke_with_everything_it_created(child.info.id, user_id=user_id)

    assert revoked.key_ids == (child.info.id, grandchild.info.id)
    assert revoked.share_ids == (made.share.id,)
    assert revoked.webhook_removed
    live = {info.id for info in services.keys.owned_by(user_id) if info.revoked_at is None}
    assert live == {root.id, sibling.info.id}
    assert not services.keys.is_live(child.info.id)
    assert services.keys.is_live(sibling.info.id)
    assert not services.webhooks.has_secret(user_id)
