"""Self-serve sign-up over HTTP: the link arrives by email (the dev stack's SMTP catcher), works
once, and gives a free-tier account with a key; the answer never tells whether an address has
an account; sign-ups are limited per address and per network."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from heirloom.devstack.mail_catcher import messages, start_catcher
from tests.conftest import ServedApi
from tests.harness.serving import free_port

ServeApi = Callable[..., ServedApi]


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    folder = tmp_path / "mail"
    port = free_port()
    controller = start_catcher(folder, port)
    try:
        yield folder, port
    finally:
        controller.stop()


def _link_token(folder: Path, address: str) -> str:
    [message] = [m for m in messages(folder) if m["To"] == address]
    body = message.get_content()
    found = re.search(r"#/confirm/([A-Za-z0-9_-]+)", body)
    assert found, body
    return found.group(1)


def test_sign_up_by_emailed_link_once(serve_api: ServeApi, mail: tuple[Path, int]) -> None:
    folder, port = mail
    api = serve_api(smtp_port=port, signup_credits=6)
    with api.client() as anonymous:
        asked = anonymous.post("/v1/signup", json={"email": "New.Person@Example.org"})
        assert asked.status_code == 202, asked.text
        token = _link_token(folder, "new.person@example.org")
        made = anonymous.post("/v1/signup/confirm", json={"token": token})
        assert made.status_code == 201, made.text
        again = anonymous.post("/v1/signup/confirm", json={"token": token})
        assert (again.status_code, again.json()["error"]["code"]) == (410, "link_expired")
        # An address with an account gets the same answer; its mailbox gets a note, no link.
        repeat = anonymous.post("/v1/signup", json={"email": "new.person@example.org"})
        assert (repeat.status_code, repeat.json()) == (202, asked.json())
        refused = anonymous.post("/v1/signup", json={"email": "x@mailinator.com"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "signup_refused")
    account = made.json()
    assert (account["tier"], account["balance"]) == ("free", 6)
    with api.client(account["api_key"]) as client:
        me = client.get("/v1/me").json()
    assert (me["email"], me["tier"], me["balance"], me["debt"]) == (
        "new.person@example.org",
        "free",
        6,
        0,
    )
    notes = [m for m in messages(folder) if m["To"] == "new.person@example.org"]
    assert len(notes) == 2
    assert "#/confirm/" not in notes[1].get_content()


def test_an_expired_link_is_refused(serve_api: ServeApi, mail: tuple[Path, int]) -> None:
    folder, port = mail
    api = serve_api(smtp_port=port)
    with api.client() as anonymous:
        assert anonymous.post("/v1/signup", json={"email": "late@example.org"}).status_code == 202
        token = _link_token(folder, "late@example.org")
        with api.services.db.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE signups SET expires_at = '2000-01-01 00:00:00'")
        late = anonymous.post("/v1/signup/confirm", json={"token": token})
    assert (late.status_code, late.json()["error"]["code"]) == (410, "link_expired")
    assert api.services.accounts.by_email("late@example.org") is None


def test_sign_ups_are_limited_per_address_and_per_network(
    serve_api: ServeApi, mail: tuple[Path, int]
) -> None:
    _, port = mail
    api = serve_api(
        smtp_port=port, rate_limit_signup_email="2/hour", rate_limit_signup_network="4/hour"
    )
    with api.client() as anonymous:
        same = [
            anonymous.post("/v1/signup", json={"email": "one@example.org"}).status_code
            for _ in range(3)
        ]
        others = [
            anonymous.post("/v1/signup", json={"email": f"p{n}@example.org"}).status_code
            for n in range(3)
        ]
    assert same == [202, 202, 429]
    # The network's budget (4) is spent by the three tries above and one more.
    assert others == [202, 429, 429]
