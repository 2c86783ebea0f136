"""`heirloom users`: the first users of a real deployment, against the configured database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from heirloom import cli
from heirloom.config import Settings
from heirloom.services.accounts.users import ROLE_ADMIN, ROLE_USER
from heirloom.services.context import Services


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def ledger_sum(services: Services, user_id: str) -> int:
    with services.db.engine.connect() as conn:
        total = conn.execute(
            sa.text("SELECT COALESCE(SUM(amount), 0) FROM credit_ledger WHERE user_id = :u"),
            {"u": user_id},
        ).scalar_one()
    return int(total)


@pytest.fixture
def configured(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Services]:
    """HEIRLOOM_* pointing at a fresh migrated database, as an operator's shell would."""
    monkeypatch.setenv("HEIRLOOM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HEIRLOOM_DATABASE_URL", database_url)
    services = Services.build(Settings(home=tmp_path / "home", database_url=database_url))
    yield services
    services.close()


def test_create_prints_a_working_key_once_and_grants_through_the_ledger(
    configured: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    services = configured
    code, out, _ = run(
        capsys, "users", "create", "--email", "Owner@Example.com", "--tier", "forever",
        "--credits", "50", "--admin", "--json",
    )  # fmt: skip
    assert code == 0
    created: dict[str, Any] = json.loads(out)
    caller = services.keys.authenticate(created["api_key"])
    assert caller is not None
    user = caller.user
    assert (user.id, user.email, user.tier, user.role) == (
        created["id"],
        "owner@example.com",
        "forever",
        ROLE_ADMIN,
    )
    assert user.balance == 50 == ledger_sum(services, user.id)

    code, out, _ = run(capsys, "users", "create", "--email", "b@example.com", "--tier", "free")
    assert code == 0
    key_lines = [line for line in out.splitlines() if line.startswith("API key")]
    assert len(key_lines) == 1
    plain_caller = services.keys.authenticate(key_lines[0].rsplit(" ", 1)[1])
    assert plain_caller is not None
    plain = plain_caller.user
    assert (plain.role, plain.balance) == (ROLE_USER, 0)

    code, out, _ = run(capsys, "users", "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [(u["email"], u["role"], u["balance"]) for u in listed] == [
        ("owner@example.com", ROLE_ADMIN, 50),
        ("b@example.com", ROLE_USER, 0),
    ]
    assert all("api_key" not in u for u in listed)
    code, out, _ = run(capsys, "users", "list")
    assert "owner@example.com" in out
    assert created["api_key"] not in out


def test_grant_adds_one_ledger_row_per_idempotency_key(
    configured: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    services = configured
    _, out, _ = run(capsys, "users", "create", "--email", "c@example.com", "--tier", "paid",
                    "--credits", "5", "--json")  # fmt: skip
    user_id = json.loads(out)["id"]

    code, out, _ = run(capsys, "users", "grant", user_id, "7", "--reason", "support ticket 12")
    assert code == 0
    assert out.strip() == f"granted 7 credits to {user_id}: balance 12"
    for _ in range(2):
        code, _, _ = run(capsys, "users", "grant", user_id, "3", "--reason", "promo",
                         "--idempotency-key", "promo-2026")  # fmt: skip
        assert code == 0
    assert services.credits.balance(user_id) == 15 == ledger_sum(services, user_id)
    reasons = [line.reason for line in services.credits.history(user_id, limit=10)]
    assert reasons == ["promo", "support ticket 12", "starting credits"]
    assert services.credits.check_consistency() == []


def test_refusals_are_plain_and_change_nothing(
    configured: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    services = configured
    assert run(capsys, "users", "create", "--email", "d@example.com", "--tier", "free")[0] == 0
    code, _, err = run(capsys, "users", "create", "--email", "D@example.com", "--tier", "paid")
    assert code == 1
    assert err.strip() == "error: A user with email d@example.com already exists."
    code, _, err = run(capsys, "users", "grant", "nobody", "5", "--reason", "x")
    assert (code, err.strip()) == (1, "error: No such user.")
    user_id = services.accounts.all()[0].id
    code, _, err = run(capsys, "users", "grant", user_id, "0", "--reason", "x")
    assert (code, err.strip()) == (1, "error: A grant must be a positive number of credits.")
    assert [u.balance for u in services.accounts.all()] == [0]


def test_a_fresh_sqlite_deployment_gets_its_first_admin_from_the_installed_command(
    tmp_path: Path,
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HEIRLOOM_")},
        "HEIRLOOM_HOME": str(tmp_path / "fresh"),
    }
    heirloom = [sys.executable, "-m", "heirloom.cli"]
    before = subprocess.run(
        [*heirloom, "users", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert before.returncode == 1
    assert "heirloom migrate" in before.stderr
    subprocess.run([*heirloom, "migrate"], env=env, check=True, timeout=120)
    created = subprocess.run(
        [*heirloom, "users", "create", "--email", "ops@example.com", "--tier", "paid",
         "--credits", "10", "--admin", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    api_key = json.loads(created.stdout)["api_key"]
    services = Services.build(Settings(home=tmp_path / "fresh"))
    try:
        caller = services.keys.authenticate(api_key)
        assert caller is not None
        user = caller.user
        assert (user.role, user.balance) == (ROLE_ADMIN, 10)
    finally:
        services.close()
