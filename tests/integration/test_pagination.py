"""Cursor pages on the list routes: a stable order (time, then id), opaque cursors, and a page
boundary that neither repeats nor skips a row while other rows are added meanwhile."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx

from heirloom.db.models import Job, utcnow
from heirloom.domain.paging import Cursor
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from tests.conftest import ServedApi


def _add_job(services: Services, user_id: str, **fields: object) -> str:
    job_id = uuid.uuid4().hex
    with services.db.session() as session:
        session.add(
            Job(
                id=job_id,
                user_id=user_id,
                operations="restore",
                tier="paid",
                status="completed",
                stage="done",
                cost=2,
                original_key=f"users/{user_id}/jobs/{job_id}/original",
                **fields,  # type: ignore[arg-type]
            )
        )
    return job_id


@contextmanager
def _adding_meanwhile(add: Callable[[], object]) -> Iterator[list[object]]:
    """Add rows from another thread, without pause, for as long as the block runs."""
    added: list[object] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            added.append(add())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield added
    finally:
        stop.set()
        thread.join(timeout=30)


def _user(services: Services) -> str:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    return services.accounts.create(email=email, tier=Tier.PAID, credits=0).user.id


def test_job_pages_under_concurrent_inserts_neither_repeat_nor_skip(services: Services) -> None:
    user_id = _user(services)
    # Ties on the sort time (five jobs in the same microsecond) must be ordered by id.
    tied = utcnow() - timedelta(minutes=5)
    existing = {_add_job(services, user_id, created_at=tied) for _ in range(5)}
    existing |= {_add_job(services, user_id) for _ in range(12)}

    seen: list[str] = []
    after: Cursor | None = None
    with _adding_meanwhile(lambda: _add_job(services, user_id)) as added:
        while True:
            page = services.jobs.page_owned(user_id, limit=3, after=after)
            seen.extend(job.id for job in page.rows)
            if page.next_cursor is None:
                break
            after = page.next_cursor
    assert len(added) > 0, "nothing was inserted while paging"
    assert len(seen) == len(set(seen)), "a job appeared on two pages"
    assert existing <= set(seen), "a job that existed before paging was skipped"


def test_the_jobs_route_pages_by_cursor_while_jobs_arrive(
    serve_api: Callable[..., ServedApi],
) -> None:
    api = serve_api()
    user_id, key = api.new_user(tier=Tier.PAID)
    existing = {_add_job(api.services, user_id) for _ in range(11)}
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 4}
    with api.client(key) as client, _adding_meanwhile(lambda: _add_job(api.services, user_id)):
        while True:
            answer = client.get("/v1/jobs", params=params)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            seen.extend(job["id"] for job in body["jobs"])
            if body["next_cursor"] is None:
                break
            params = {"limit": 4, "cursor": body["next_cursor"]}
    assert len(seen) == len(set(seen))
    assert existing <= set(seen)


def test_ledger_audit_and_key_lists_page_by_cursor(serve_api: Callable[..., ServedApi]) -> None:
    api = serve_api()
    user_id, key = api.new_user(tier=Tier.PAID)
    for n in range(7):
        api.services.credits.grant(user_id, 1, f"grant {n}", f"grant-{n}")
    for n in range(4):
        api.services.keys.create(user_id, f"key {n}")
    with api.client(key) as client:
        for path, rows in (("/v1/me/credits", "entries"), ("/v1/me/keys", "keys")):
            ids = _walk(client, path, rows, limit=2)
            assert len(ids) == len(set(ids)), path
            total = client.get(path, params={"limit": 200}).json()[rows]
            assert ids == [row["id"] for row in total], path


def test_admin_users_and_a_jobs_share_links_page_by_cursor(
    serve_api: Callable[..., ServedApi],
) -> None:
    api = serve_api()
    user_id, key = api.new_user(tier=Tier.PAID)
    for _ in range(3):
        api.new_user()
    job_id = _add_job(api.services, user_id, result_key=f"users/{user_id}/result.jpg")
    job = api.services.jobs.get(job_id)
    for _ in range(5):
        api.services.shares.create(job, expires_in_s=3600, allow_download=False, now=utcnow())
    with api.client(api.admin_key) as admin:
        users = _walk(admin, "/v1/admin/users", "users", limit=2)
        assert len(users) == len(set(users)) >= 5
    with api.client(key) as client:
        shares = _walk(client, f"/v1/jobs/{job_id}/shares", "shares", limit=2)
        assert len(shares) == len(set(shares)) == 5


def _walk(client: httpx.Client, path: str, rows: str, *, limit: int) -> list[object]:
    ids: list[object] = []
    params: dict[str, str | int] = {"limit": limit}
    while True:
        body = client.get(path, params=params).json()
        ids.extend(row["id"] for row in body[rows])
        if body["next_cursor"] is None:
            return ids
        params = {"limit": limit, "cursor": body["next_cursor"]}


def test_a_cursor_not_given_out_is_refused_with_422(serve_api: Callable[..., ServedApi]) -> None:
    api = serve_api()
    user_id, key = api.new_user(tier=Tier.PAID)
    _add_job(api.services, user_id)
    job_cursor = Cursor("a" * 32, utcnow()).encode()
    refused: list[tuple[str, dict[str, str | int]]] = [
        ("/v1/jobs", {"cursor": "bm90LWpzb24"}),  # base64 of "not-json"
        ("/v1/jobs", {"cursor": job_cursor, "offset": 1}),
        ("/v1/me/credits", {"cursor": job_cursor}),  # another list's cursor
        ("/v1/me/credits", {"cursor": Cursor(2**63).encode()}),
        ("/v1/me/audit", {"cursor": Cursor(1).encode(), "before_id": 5}),
    ]
    with api.client(key) as client:
        for path, params in refused:
            answer = client.get(path, params=params)
            assert answer.status_code == 422, (path, params, answer.text)
            assert answer.json()["error"]["code"] == "invalid_request"


def test_offset_still_pages_jobs_as_before(serve_api: Callable[..., ServedApi]) -> None:
    api = serve_api()
    user_id, key = api.new_user(tier=Tier.PAID)
    made = [_add_job(api.services, user_id) for _ in range(5)]
    with api.client(key) as client:
        first = client.get("/v1/jobs", params={"limit": 3}).json()
        rest = client.get("/v1/jobs", params={"limit": 3, "offset": 3}).json()
    assert rest["offset"] == 3
    assert rest["next_cursor"] is None
    listed = [job["id"] for job in first["jobs"] + rest["jobs"]]
    assert sorted(listed) == sorted(made)
    assert len(set(listed)) == 5
