"""Every route in the OpenAPI document, called with no key, a revoked key, another user's key
and (on admin routes) a user's key: 401, 404 or 403, and nothing changes.

The table below must name every operation of the document: a new route fails this test until
it gets a row saying who may call it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import httpx
import pytest
import sqlalchemy as sa

from heirloom.db.models import Album, DataExport, utcnow
from heirloom.domain.tiers import Tier
from heirloom.services.albums.archive import build_album_zip
from heirloom.services.context import Services
from heirloom.services.privacy.export import export_key
from tests.conftest import ServedApi
from tests.support import completed_job, failed_delivery

ServeApi = Callable[..., ServedApi]
Access = Literal["public", "user", "admin"]


@dataclass(frozen=True)
class Row:
    """Who may call an operation, and whether its path names one user's resource."""

    access: Access
    owned: bool = False  # the path names the victim's job or key: others get 404
    request: dict[str, Any] = field(default_factory=dict)
    public_answers: tuple[int, ...] = (200,)
    # The route acts on the caller's own account (closing it), or streams the caller's own
    # jobs until disconnected: another user's key, which would succeed, is not called.
    own_account: bool = False


ROUTES: dict[tuple[str, str], Row] = {
    ("GET", "/healthz"): Row("public"),
    ("GET", "/readyz"): Row("public", public_answers=(200, 503)),  # 503: the walk runs no worker
    ("GET", "/v1/pricing"): Row("public"),
    # Not a photo: the walk runs no worker, and refusing callers happens before the photo is read.
    ("POST", "/v1/jobs"): Row(
        "user",
        request={
            "files": {"file": ("p.jpg", b"not a photo", "image/jpeg")},
            "data": {"operations": "restore"},
        },
    ),
    ("GET", "/v1/jobs"): Row("user"),
    ("POST", "/v1/albums"): Row(
        "user",
        request={
            "files": {"files": ("p.jpg", b"not a photo", "image/jpeg")},
            "data": {"operations": "restore"},
        },
    ),
    ("GET", "/v1/albums/{album_id}"): Row("user", owned=True),
    ("GET", "/v1/albums/{album_id}/events"): Row("user", owned=True),
    ("GET", "/v1/albums/{album_id}/zip"): Row("user", owned=True),
    ("POST", "/v1/albums/{album_id}/shares"): Row("user", owned=True),
    ("DELETE", "/v1/albums/{album_id}/shares"): Row("user", owned=True),
    ("GET", "/a/{token}"): Row("public", public_answers=(404,)),
    ("GET", "/a/{token}/photos/{job_id}/comparison"): Row("public", public_answers=(404,)),
    ("GET", "/v1/jobs/{job_id}"): Row("user", owned=True),
    ("POST", "/v1/jobs/{job_id}/cancel"): Row("user", owned=True),
    ("POST", "/v1/jobs/{job_id}/retry"): Row("user", owned=True),
    ("GET", "/v1/jobs/{job_id}/result"): Row("user", owned=True),
    ("GET", "/v1/jobs/{job_id}/thumbnail"): Row("user", owned=True),
    ("GET", "/v1/jobs/{job_id}/comparison"): Row("user", owned=True),
    ("POST", "/v1/jobs/{job_id}/choose"): Row(
        "user", owned=True, request={"json": {"candidate": 1}}
    ),
    ("GET", "/v1/jobs/{job_id}/candidates/{candidate}/{kind}"): Row("user", owned=True),
    ("GET", "/v1/me"): Row("user"),
    ("GET", "/v1/queue"): Row("user"),
    ("GET", "/v1/admin/queue"): Row("admin"),
    ("GET", "/v1/admin/queue/metrics"): Row("admin"),
    ("GET", "/v1/admin/health"): Row("admin"),
    ("GET", "/v1/me/credits"): Row("user"),
    ("GET", "/v1/me/keys"): Row("user"),
    ("POST", "/v1/me/keys"): Row("user", request={"json": {"name": "walk"}}),
    ("DELETE", "/v1/me/keys/{key_id}"): Row("user", owned=True),
    ("POST", "/v1/me/keys/{key_id}/revoke"): Row(
        "user", owned=True, request={"json": {"cascade": True}}
    ),
    ("GET", "/v1/admin/users"): Row("admin"),
    ("POST", "/v1/admin/users"): Row("admin", request={"json": {"email": "walk@example.com"}}),
    ("PATCH", "/v1/admin/users/{user_id}"): Row("admin", request={"json": {"tier": "paid"}}),
    ("POST", "/v1/admin/users/{user_id}/credits"): Row(
        "admin",
        request={"json": {"amount": 5, "reason": "walk"}, "headers": {"Idempotency-Key": "w"}},
    ),
    ("DELETE", "/v1/admin/keys/{key_id}"): Row("admin"),
    ("GET", "/v1/admin/abuse"): Row("admin"),
    ("GET", "/v1/admin/jobs/{job_id}"): Row("admin"),
    ("DELETE", "/v1/jobs/{job_id}"): Row("user", owned=True),
    ("GET", "/v1/jobs/{job_id}/original"): Row("user", owned=True),
    ("GET", "/v1/jobs/{job_id}/shares"): Row("user", owned=True),
    ("POST", "/v1/jobs/{job_id}/shares"): Row("user", owned=True, request={"json": {}}),
    ("DELETE", "/v1/jobs/{job_id}/shares/{share_id}"): Row("user", owned=True),
    ("DELETE", "/v1/me"): Row("user", own_account=True),
    ("GET", "/v1/me/audit"): Row("user"),
    ("POST", "/v1/me/exports"): Row("user"),
    ("GET", "/v1/me/exports"): Row("user"),
    ("GET", "/v1/me/exports/{export_id}"): Row("user"),
    ("GET", "/v1/me/exports/{export_id}/download"): Row("user"),
    ("GET", "/v1/admin/audit"): Row("admin", request={"params": {"user_id": "someone"}}),
    # A token nobody was given: the public routes answer it without a key, as gone or unknown.
    ("GET", "/s/{token}"): Row("public", public_answers=(404, 410)),
    ("GET", "/s/{token}/result"): Row("public", public_answers=(404, 410)),
    ("GET", "/s/{token}/comparison"): Row("public", public_answers=(404, 410)),
    ("GET", "/s/{token}/download"): Row("public", public_answers=(404, 410)),
    ("GET", "/v1/jobs/{job_id}/events"): Row("user", owned=True),
    ("GET", "/v1/events"): Row("user", own_account=True),
    ("POST", "/v1/stream-tokens"): Row("user"),
    ("GET", "/v1/me/webhook"): Row("user"),
    ("PUT", "/v1/me/webhook"): Row("user", request={"json": {}}),
    ("DELETE", "/v1/me/webhook"): Row("user"),
    ("POST", "/v1/me/webhook/rotate-secret"): Row("user"),
    ("GET", "/v1/me/webhook/deliveries"): Row("user"),
    ("POST", "/v1/me/webhook/deliveries/{delivery_id}/redeliver"): Row("user", owned=True),
    ("GET", "/v1/admin/reports/costs"): Row("admin"),
    ("GET", "/v1/admin/budgets"): Row("admin"),
    ("PUT", "/v1/admin/budgets/{period}"): Row("admin", request={"json": {"amount_usd": 10}}),
    ("POST", "/v1/admin/controls/{scope}/stop"): Row("admin", request={"json": {"reason": "w"}}),
    ("POST", "/v1/admin/controls/{scope}/resume"): Row("admin", request={"json": {"reason": "w"}}),
    ("GET", "/v1/admin/controls/audit"): Row("admin"),
    ("GET", "/v1/admin/alerts"): Row("admin"),
    ("GET", "/v1/admin/analytics/jobs"): Row("admin"),
    ("GET", "/v1/admin/analytics/users"): Row("admin"),
    ("GET", "/v1/admin/analytics/stages"): Row("admin"),
    ("GET", "/v1/admin/analytics/failures"): Row("admin"),
    ("GET", "/v1/admin/analytics/quality"): Row("admin"),
    # Public: a refused address (disposable-mail domain) is 400 before any email is sent; a
    # link nobody was sent is 404; an unsigned Stripe notification is 400.
    ("POST", "/v1/signup"): Row(
        "public", request={"json": {"email": "walk@mailinator.com"}}, public_answers=(400,)
    ),
    ("POST", "/v1/signup/confirm"): Row(
        "public", request={"json": {"token": "t" * 43}}, public_answers=(404,)
    ),
    ("POST", "/v1/stripe/webhook"): Row(
        "public", request={"content": b"{}"}, public_answers=(400,)
    ),
    ("POST", "/v1/checkout"): Row("user", request={"json": {"pack": "no-such-pack"}}),
    ("GET", "/v1/me/purchases"): Row("user"),
    ("GET", "/v1/admin/purchases"): Row("admin"),
    ("POST", "/v1/admin/purchases/{purchase_id}/refund"): Row("admin"),
}


@dataclass(frozen=True)
class World:
    api: ServedApi
    victim_id: str
    victim_key: str
    victim_key_id: str
    victim_job: str
    other_id: str
    other_key: str
    revoked_key: str
    victim_album: str
    victim_share: str
    victim_export: str
    victim_delivery: int


@pytest.fixture
def world(serve_api: ServeApi) -> World:
    # Hundreds of refused keys from one address: the walk is about answers, not budgets.
    api = serve_api(rate_limit_auth_failures="100000/hour")
    victim_id, victim_key = api.new_user(tier=Tier.PAID, credits=50)
    victim_job = completed_job(api.services, victim_id, size=1000)
    [victim_key_info] = api.services.keys.owned_by(victim_id)
    other_id, other_key = api.new_user(tier=Tier.PAID, credits=50)
    revoked_id, revoked_key = api.new_user(tier=Tier.PAID, credits=50)
    [revoked_info] = api.services.keys.owned_by(revoked_id)
    api.services.keys.revoke(revoked_info.id)
    return World(
        api,
        victim_id,
        victim_key,
        victim_key_info.id,
        victim_job,
        other_id,
        other_key,
        revoked_key,
        ended_album(api.services, victim_id),
        *victims_things(api.services, victim_id, victim_job),
    )


def victims_things(services: Services, user_id: str, job_id: str) -> tuple[str, str, int]:
    """A live share, a ready export and a failed webhook delivery of the victim: every `{id}`
    of the walk is a real row of another user, so only an owner check refuses it."""
    share = services.shares.create(
        services.jobs.get(job_id), expires_in_s=3600, allow_download=True, now=utcnow()
    ).share
    export_id = uuid.uuid4().hex
    services.storage.put(export_key(user_id, export_id), b"PK", content_type="application/zip")
    with services.db.session() as session:
        session.add(
            DataExport(
                id=export_id,
                user_id=user_id,
                state="ready",
                ready_at=utcnow(),
                expires_at=utcnow() + timedelta(days=1),
                size_bytes=2,
            )
        )
    return share.id, export_id, failed_delivery(services, user_id, job_id)


def ended_album(services: Services, user_id: str) -> str:
    """An album of no photos that has ended: its ZIP (empty) and `album.completed` exist."""
    album_id = uuid.uuid4().hex
    with services.db.session() as session:
        session.add(
            Album(id=album_id, user_id=user_id, operations="restore", tier="paid", photos=0, cost=0)
        )
    key = build_album_zip(services.storage, user_id, album_id, [])
    services.albums.finish(album_id, key, 3600)
    return album_id


def _snapshot(services: Services, other_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a refused call must leave alone (the caller's own new keys aside)."""
    queries = {
        "users": "SELECT id, email, tier, role, balance FROM users ORDER BY id",
        "jobs": "SELECT id, user_id, status, stage, cost, refunded FROM jobs ORDER BY id",
        "ledger": "SELECT id, user_id, kind, amount FROM credit_ledger ORDER BY id",
        "keys": "SELECT id, user_id, revoked_at FROM api_keys WHERE user_id != :other ORDER BY id",
        "shares": "SELECT id, user_id, revoked_at FROM shares ORDER BY id",
        "exports": (
            "SELECT id, user_id, state FROM data_exports WHERE user_id != :other ORDER BY id"
        ),
        "deliveries": "SELECT id, user_id, state, run FROM webhook_deliveries ORDER BY id",
    }
    with services.db.engine.connect() as conn:
        return {
            name: [tuple(row) for row in conn.execute(sa.text(sql), {"other": other_id})]
            for name, sql in queries.items()
        }


def _call(
    client: httpx.Client, method: str, template: str, row: Row, world: World
) -> httpx.Response:
    path = template.format(
        job_id=world.victim_job,
        key_id=world.victim_key_id,
        user_id=world.victim_id,
        share_id=world.victim_share,
        purchase_id="cs_test_" + "0" * 24,
        export_id=world.victim_export,
        token="t" * 43,
        delivery_id=world.victim_delivery,
        period="day",
        scope="free",
        candidate=1,
        kind="thumbnail",
        album_id=world.victim_album,
    )
    return client.request(method, path, **row.request)


def test_every_route_in_the_document_has_a_row(world: World) -> None:
    with world.api.client() as client:
        document = client.get("/openapi.json").json()
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert operations == set(ROUTES), (
        f"without a row: {sorted(operations - set(ROUTES))}; "
        f"gone: {sorted(set(ROUTES) - operations)}"
    )


def test_every_route_refuses_callers_without_the_right_key(world: World) -> None:
    api = world.api
    before = _snapshot(api.services, world.other_id)
    unexpected: list[str] = []
    with (
        api.client() as anonymous,
        api.client(world.revoked_key) as revoked,
        api.client(world.other_key) as other,
    ):
        for (method, template), row in ROUTES.items():
            if row.access == "public":
                continue
            for name, client, expected in (
                ("no key", anonymous, 401),
                ("revoked key", revoked, 401),
                ("another user's key", other, 403 if row.access == "admin" else 404),
            ):
                if row.own_account and name == "another user's key":
                    continue
                answer = _call(client, method, template, row, world)
                if row.access == "user" and not row.owned and name == "another user's key":
                    # The caller's own view: it must not contain the victim's anything.
                    leaked = {
                        world.victim_id,
                        world.victim_job,
                        world.victim_key_id,
                        world.victim_share,
                        world.victim_export,
                    }
                    if answer.status_code >= 500 or any(x in answer.text for x in leaked):
                        unexpected.append(f"{method} {template} with {name}: {answer.text}")
                    continue
                if answer.status_code != expected:
                    unexpected.append(
                        f"{method} {template} with {name}: {answer.status_code} != {expected}"
                    )
                elif answer.json()["error"]["code"] not in {
                    "unauthorized",
                    "forbidden",
                    "not_found",
                }:
                    unexpected.append(f"{method} {template} with {name}: {answer.text}")
    assert unexpected == []
    assert _snapshot(api.services, world.other_id) == before
    # The victim's key and job are untouched and still work.
    with api.client(world.victim_key) as victim:
        assert victim.get(f"/v1/jobs/{world.victim_job}").json()["status"] == "completed"


def test_public_routes_answer_anyone(world: World) -> None:
    with world.api.client() as anonymous:
        for (method, template), row in ROUTES.items():
            if row.access == "public":
                answer = _call(anonymous, method, template, row, world)
                assert answer.status_code in row.public_answers, (method, template)


def test_the_table_rows_are_not_stale(world: World) -> None:
    """The victim can do what the table says users may do on their own resources."""
    with world.api.client(world.victim_key) as victim:
        for (method, template), row in ROUTES.items():
            if row.access == "user" and row.owned and method == "GET":
                answer = _call(victim, method, template, row, world)
                assert answer.status_code == 200, (method, template, answer.text)
