"""Backups that restore: deploy/backup/backup.sh dumps a PostgreSQL database and the stored
files, `heirloom backup seal` encrypts them (age) and copies them off the host to S3, the database
is dropped, and `heirloom backup unseal` + deploy/backup/restore.sh bring the ledger and the jobs
back exactly as they were at the backup; `heirloom erasures reapply` then erases again the
account erased after the backup (the erasure log). Runs on the local PostgreSQL
(HEIRLOOM_TEST_DATABASE_URL) with its pg_dump and pg_restore.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pyrage
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from temporalio.client import Client

from heirloom import cli
from heirloom.config import Settings
from heirloom.domain.messages import ErasureReport
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.starters.export import start_export
from heirloom.workflows.erasure import ErasureWorkflow, erasure_workflow_id
from heirloom.workflows.export import export_workflow_id
from tests.conftest import Stack
from tests.harness.required import unavailable
from tests.support import completed_job, temporal_call

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "deploy" / "backup"


def _tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the ledger, the jobs and the users, in a stable order."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: [tuple(row) for row in conn.execute(sa.text(query))]
                for table, query in {
                    "credit_ledger": "SELECT * FROM credit_ledger ORDER BY id",
                    "jobs": "SELECT * FROM jobs ORDER BY id",
                    "users": "SELECT id, email, tier, role, balance FROM users ORDER BY id",
                }.items()
            }
    finally:
        engine.dispose()


def _pg_environment(url: str) -> dict[str, str]:
    parsed = make_url(url)
    environment = dict(os.environ)
    environment |= {
        "PGHOST": parsed.host or "127.0.0.1",
        "PGPORT": str(parsed.port or 5432),
        "PGUSER": parsed.username or "postgres",
        "DATABASES": str(parsed.database),
        "APP_DATABASE": str(parsed.database),
    }
    if parsed.password:
        environment["PGPASSWORD"] = parsed.password
    return environment


def _script(name: str, *args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["sh", str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    return captured.out


def _erase(services: Services, user_id: str) -> None:
    """The erasure workflow's steps at the service level, ending as its last activity does."""
    services.erasure.close_account(user_id)
    services.erasure.delete_files(user_id)
    services.erasure.anonymise_records(user_id)
    services.erasure.log_erased(user_id)


@pytest.mark.parametrize(
    "database_lost",
    [True, False],
    ids=["dropped, with the exported erasure log", "over the live database"],
)
def test_backup_drop_restore_gives_back_ledger_and_jobs_and_erases_again(
    database_lost: bool,
    postgres_database: str,
    s3_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for tool in ("pg_dump", "pg_restore", "psql"):
        if shutil.which(tool) is None:
            unavailable("postgres", f"{tool} is not on this machine: the backup scripts need it")
    url = postgres_database
    home = tmp_path / "home"
    identity = pyrage.x25519.Identity.generate()
    identity_file = tmp_path / "backup.key"
    identity_file.write_text(str(identity) + "\n")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="offsite")
    monkeypatch.setenv("HEIRLOOM_HOME", str(home))
    monkeypatch.setenv("HEIRLOOM_DATABASE_URL", url)
    monkeypatch.setenv("HEIRLOOM_BACKUP_AGE_RECIPIENTS", json.dumps([str(identity.to_public())]))
    monkeypatch.setenv("HEIRLOOM_BACKUP_S3_BUCKET", "offsite")
    monkeypatch.setenv("HEIRLOOM_BACKUP_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("HEIRLOOM_BACKUP_S3_ACCESS_KEY_ID", "backup-key")
    monkeypatch.setenv("HEIRLOOM_BACKUP_S3_SECRET_ACCESS_KEY", "backup-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings = Settings(home=home, database_url=url)
    storage_dir = settings.resolved_storage_dir
    services = Services.build(settings, pool_size=2)

    # Three accounts with credits and finished jobs; one erased before the backup.
    users = {}
    jobs = {}
    for name in ("kept", "erased_before", "erased_after"):
        users[name] = services.accounts.create(
            email=f"{name}@example.org", tier=Tier.PAID, credits=10
        ).user.id
        jobs[name] = [completed_job(services, users[name], 64) for _ in range(2)]
    _erase(services, users["erased_before"])
    # TAKEN_AT has whole seconds, rounded down: an erasure in the same second is re-applied too
    # (harmless, every step is idempotent); a second apart, this test can tell them apart.
    time.sleep(1.1)

    # The backup: dumps and files, sealed for the key, copied to the off-host bucket.
    env = _pg_environment(url) | {
        "BACKUP_DIR": str(tmp_path / "backups"),
        "S3_DATA_DIR": str(storage_dir),
    }
    _script("backup.sh", env=env)
    (folder,) = (tmp_path / "backups").iterdir()
    at_backup = _tables(url)
    sealed_out = _cli(capsys, "backup", "seal", str(folder))
    assert "copied" in sealed_out
    names = sorted(p.name for p in folder.iterdir())
    database = str(make_url(url).database)
    assert names == sorted(["SHA256SUMS", "TAKEN_AT", f"{database}.dump.age", "s3-data.tar.gz.age"])
    sealed = (folder / f"{database}.dump.age").read_bytes()
    assert b"kept@example.org" not in sealed, "the dump left the host unencrypted"
    listed = s3.list_objects_v2(Bucket="offsite", Prefix=f"heirloom-backups/{folder.name}/")
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in listed["Contents"]) == names

    # After the backup: a new job for the kept user, and the second erasure.
    time.sleep(1.1)
    late_job = completed_job(services, users["kept"], 64)
    _erase(services, users["erased_after"])
    erasure_log = tmp_path / "erasure-log.csv"
    _cli(capsys, "erasures", "export", "--out", str(erasure_log))
    assert users["erased_after"] in erasure_log.read_text()
    services.close()

    if database_lost:
        # Dropped, then created empty (as PostgreSQL's init would): the log comes from its export.
        parsed = make_url(url)
        admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{database}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
        admin.dispose()
    else:
        # restore.sh carries the log itself, from the database it replaces.
        erasure_log.unlink()
    shutil.rmtree(storage_dir)
    storage_dir.mkdir(parents=True)

    # Restore from the off-host copy: fetch, unseal, restore.sh, re-apply the erasures.
    restored = tmp_path / "restored" / folder.name
    restored.mkdir(parents=True)
    for name in names:
        s3.download_file("offsite", f"heirloom-backups/{folder.name}/{name}", str(restored / name))
    _cli(capsys, "backup", "unseal", str(restored), "--identity", str(identity_file))
    out = _script(
        "restore.sh",
        folder.name,
        env=env
        | {"BACKUP_DIR": str(restored.parent)}
        | ({"ERASURE_LOG": str(erasure_log)} if database_lost else {}),
    )
    taken_at = (restored / "TAKEN_AT").read_text().strip()
    assert f"--since {taken_at}" in out
    assert _tables(url) == at_backup, "the restore is not the database at the backup"
    assert (storage_dir / f"users/{users['erased_after']}").exists()
    # The database and files; starting the erasure workflows is the next test's.
    reapplied = _cli(capsys, "erasures", "reapply", "--since", taken_at, "--no-workflows")
    assert reapplied.splitlines()[0] == (f"erased again: {users['erased_after']}")

    # Exactly the backup, less what the later erasure took: its jobs, files and personal fields.
    after = _tables(url)
    erased = users["erased_after"]
    assert after["jobs"] == [row for row in at_backup["jobs"] if row[0] not in jobs["erased_after"]]
    assert late_job not in {row[0] for row in after["jobs"]}
    # The ledger stays whole (the money adds up); only a grant's reason, written by an
    # operator, is anonymised. Columns: id, user_id, job_id, kind, amount, reason, ...
    expected_ledger = [
        (*row[:5], "grant", *row[6:]) if row[1] == erased and row[3] == "grant" else row
        for row in at_backup["credit_ledger"]
    ]
    assert after["credit_ledger"] == expected_ledger
    user_rows = {row[0]: row for row in after["users"]}
    assert user_rows[erased][3] == "erased"
    assert user_rows[users["kept"]] == next(r for r in at_backup["users"] if r[0] == users["kept"])
    assert not (storage_dir / f"users/{erased}").exists()
    assert (storage_dir / f"users/{users['kept']}/jobs/{jobs['kept'][0]}").exists()
    assert not (storage_dir / f"users/{users['erased_before']}").exists()
    check = Services.build(Settings(home=home, database_url=url), pool_size=1)
    try:
        assert check.erasure.erased_since(check.erasure.logged()[0][1].replace(year=2000)) == [
            users["erased_before"],
            erased,
        ]
    finally:
        check.close()


def test_reapply_starts_the_erasure_workflow_again_for_the_temporal_histories(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a restore, Temporal's databases hold the histories of the backup's time: reapply
    starts each logged user's erasure workflow, which deletes them and repeats every step."""
    # No jobs (the shared stack's ledger check wants every charged job kept); an export's
    # workflow is the history the restored Temporal would hold.
    user_id, key = stack.new_user(tier=Tier.FREE, credits=0)
    export_id = uuid.uuid4().hex

    async def exported(temporal: Client) -> None:
        await start_export(temporal, user_id, export_id, valid_s=1)
        handle = temporal.get_workflow_handle(export_workflow_id(user_id, export_id))
        await asyncio.wait_for(handle.result(), 120)

    temporal_call(stack.settings, exported)
    since = datetime.now(UTC)
    stack.services.erasure.log_erased(user_id)  # as the log restore.sh carried over says
    settings = stack.settings
    monkeypatch.setenv("HEIRLOOM_HOME", str(settings.home))
    monkeypatch.setenv("HEIRLOOM_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("HEIRLOOM_TEMPORAL_ADDRESS", settings.temporal_address)
    monkeypatch.setenv("HEIRLOOM_TEMPORAL_NAMESPACE", settings.temporal_namespace)
    out = _cli(capsys, "erasures", "reapply", "--since", since.isoformat())
    assert f"erasure workflow started: {erasure_workflow_id(user_id)}" in out

    async def finished(temporal: Client) -> ErasureReport:
        handle = temporal.get_workflow_handle_for(ErasureWorkflow.run, erasure_workflow_id(user_id))
        return await asyncio.wait_for(handle.result(), 120)

    report = temporal_call(settings, finished)
    assert report.histories_deleted >= 1
    with stack.client(key) as client:
        assert client.get("/v1/me").status_code == 401
    assert stack.services.accounts.get(user_id).role == "erased"
