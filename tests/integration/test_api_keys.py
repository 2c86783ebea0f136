"""API keys over real HTTP: several named keys, shown once, stored hashed, revocable,
last-used written at most once per interval, admins revoke any key, migration keeps keys."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from heirloom.config import Settings
from heirloom.db import migrate
from heirloom.services.context import Services
from tests.conftest import ServedApi

ServeApi = Callable[..., ServedApi]


def _stored_columns(services: Services) -> list[tuple[object, ...]]:
    with services.db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text("SELECT * FROM api_keys"))]


def test_a_user_creates_named_keys_shown_once_and_stored_hashed(serve_api: ServeApi) -> None:
    api = serve_api()
    _, key = api.new_user()
    with api.client(key) as client:
        created = client.post("/v1/me/keys", json={"name": "backup script"})
        assert created.status_code == 201, created.text
        body = created.json()
        new_key = body["api_key"]
        assert new_key.startswith("hl_")
        assert body["prefix"] == new_key[:11]
        assert (body["name"], body["last_used_at"]) == ("backup script", None)
        listed = client.get("/v1/me/keys").json()["keys"]
        assert {k["name"] for k in listed} == {"default", "backup script"}
        assert all("api_key" not in k and "key_hash" not in k for k in listed)
    # Only the hash is stored: the plaintext appears in no column of any row.
    rows = _stored_columns(api.services)
    assert not any(new_key in str(value) for row in rows for value in row)
    assert any(hashlib.sha256(new_key.encode()).hexdigest() in row for row in rows)
    with api.client(new_key) as client:
        assert client.get("/v1/me").status_code == 200


def test_last_used_is_written_once_per_interval_not_per_request(serve_api: ServeApi) -> None:
    api = serve_api(api_key_touch_interval_s=3600)
    _, key = api.new_user()
    with api.client(key) as client:
        client.get("/v1/me")
        first = client.get("/v1/me/keys").json()["keys"][0]["last_used_at"]
        for _ in range(3):
            client.get("/v1/me")
        again = client.get("/v1/me/keys").json()["keys"][0]["last_used_at"]
    assert first is not None
    assert again == first


def test_revoked_key_is_refused_and_listed_as_revoked(serve_api: ServeApi) -> None:
    api = serve_api()
    _, key = api.new_user()
    with api.client(key) as client:
        spare = client.post("/v1/me/keys", json={"name": "spare"}).json()
        assert client.delete(f"/v1/me/keys/{spare['id']}").status_code == 204
        assert client.delete(f"/v1/me/keys/{spare['id']}").status_code == 204  # idempotent
        listed = {k["id"]: k for k in client.get("/v1/me/keys").json()["keys"]}
        assert listed[spare["id"]]["revoked_at"] is not None
    with api.client(spare["api_key"]) as revoked:
        assert revoked.get("/v1/me").status_code == 401


def test_keys_per_user_are_limited(serve_api: ServeApi) -> None:
    api = serve_api(max_api_keys_per_user=2)
    _, key = api.new_user()
    with api.client(key) as client:
        assert client.post("/v1/me/keys", json={"name": "second"}).status_code == 201
        refused = client.post("/v1/me/keys", json={"name": "third"})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "conflict"


def test_a_user_cannot_revoke_another_users_key_but_an_admin_can(serve_api: ServeApi) -> None:
    api = serve_api()
    _, mine = api.new_user()
    _, theirs = api.new_user()
    with api.client(theirs) as them:
        their_key_id = them.get("/v1/me/keys").json()["keys"][0]["id"]
    with api.client(mine) as me:
        assert me.delete(f"/v1/me/keys/{their_key_id}").status_code == 404
        assert me.delete(f"/v1/admin/keys/{their_key_id}").status_code == 403
    with api.client(theirs) as them:
        assert them.get("/v1/me").status_code == 200
    with api.client(api.admin_key) as admin:
        assert admin.delete(f"/v1/admin/keys/{their_key_id}").status_code == 204
        assert admin.delete(f"/v1/admin/keys/{uuid.uuid4().hex}").status_code == 404
    with api.client(theirs) as them:
        assert them.get("/v1/me").status_code == 401


def test_admin_created_users_still_get_a_first_key(serve_api: ServeApi) -> None:
    api = serve_api()
    with api.client(api.admin_key) as admin:
        created = admin.post("/v1/admin/users", json={"email": "first@example.com"})
    assert created.status_code == 201
    with api.client(created.json()["api_key"]) as client:
        assert [k["name"] for k in client.get("/v1/me/keys").json()["keys"]] == ["default"]


def test_migration_keeps_every_existing_key_working(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0001")
    old_key = "hl_" + uuid.uuid4().hex
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, tier, role, balance, api_key_hash, created_at) "
                "VALUES ('u1', 'old@example.com', 'paid', 'user', 7, :h, '2026-01-01')"
            ),
            {"h": hashlib.sha256(old_key.encode()).hexdigest()},
        )
        conn.execute(
            sa.text(
                "INSERT INTO credit_ledger (user_id, kind, amount, reason, idempotency_key, "
                "created_at) VALUES ('u1', 'grant', 7, 'start', 'g1', '2026-01-01')"
            )
        )
    engine.dispose()
    migrate.upgrade(url)
    services = Services.build(Settings(home=tmp_path, database_url=url))
    try:
        caller = services.keys.authenticate(old_key)
        assert caller is not None
        assert caller.user.balance == 7
        assert [k.name for k in services.keys.owned_by("u1")] == ["default"]
        assert services.credits.check_consistency() == []
    finally:
        services.close()
    migrate.downgrade(url, "0001")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT api_key_hash FROM users WHERE id = 'u1'")).scalar()
    engine.dispose()
    assert stored == hashlib.sha256(old_key.encode()).hexdigest()
