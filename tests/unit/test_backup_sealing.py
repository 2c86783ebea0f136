"""Sealing backups (services/backup/sealing.py): encryption for age recipients only, nothing
plaintext shipped, pruning by the folders' stamps here and in the bucket, the newest kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pyrage
import pytest

from heirloom.services.backup import sealing

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def _backup(root: Path, when: datetime) -> Path:
    folder = root / when.strftime(sealing.STAMP_FORMAT)
    folder.mkdir(parents=True)
    (folder / "heirloom.dump").write_bytes(b"PGDMP secret rows")
    (folder / "TAKEN_AT").write_text(when.strftime("%Y-%m-%dT%H:%M:%SZ") + "\n")
    (folder / "SHA256SUMS").write_text("...\n")
    return folder


def test_seal_then_unseal_gives_back_the_bytes_and_only_the_key_opens_them(
    tmp_path: Path,
) -> None:
    identity = pyrage.x25519.Identity.generate()
    folder = _backup(tmp_path, NOW)
    sealed = sealing.seal(folder, [str(identity.to_public())])
    assert [p.name for p in sealed] == ["heirloom.dump.age"]
    assert not (folder / "heirloom.dump").exists()
    assert b"secret rows" not in sealed[0].read_bytes()
    assert sealing.seal(folder, [str(identity.to_public())]) == sealed  # sealing twice: no-op
    assert sealing.taken_at(folder) == NOW

    other = tmp_path / "other.key"
    other.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
    with pytest.raises(sealing.BackupError, match="not for this identity"):
        sealing.unseal(folder, other)
    key = tmp_path / "backup.key"
    key.write_text(f"# created: now\n{identity}\n")
    assert sealing.unseal(folder, key) == [folder / "heirloom.dump"]
    assert (folder / "heirloom.dump").read_bytes() == b"PGDMP secret rows"


def test_sealing_needs_a_recipient_and_shipping_needs_a_sealed_folder(tmp_path: Path) -> None:
    folder = _backup(tmp_path, NOW)
    with pytest.raises(sealing.BackupError, match="no age recipient"):
        sealing.seal(folder, [])
    with pytest.raises(sealing.BackupError, match="not an age public key"):
        sealing.seal(folder, ["age1notakey"])
    with pytest.raises(sealing.BackupError, match="not sealed"):
        sealing.ship(folder, None, "bucket", "prefix")


def test_pruning_removes_backups_past_the_retention_and_keeps_the_newest(
    tmp_path: Path, s3_endpoint: str
) -> None:
    identity = pyrage.x25519.Identity.generate()
    ages = (40, 31, 29, 0)
    folders = [_backup(tmp_path / "backups", NOW - timedelta(days=d)) for d in ages]
    (tmp_path / "backups" / "not-a-backup").mkdir()
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="prune-test")
    for folder in folders:
        sealing.seal(folder, [str(identity.to_public())])
        sealing.ship(folder, s3, "prune-test", "backups")

    removed = sealing.prune_local(tmp_path / "backups", 30, NOW)
    assert removed == [folders[0].name, folders[1].name]
    left = sorted(p.name for p in (tmp_path / "backups").iterdir())
    assert left == sorted([folders[2].name, folders[3].name, "not-a-backup"])
    assert sealing.prune_remote(s3, "prune-test", "backups", 30, NOW) == removed
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="prune-test")["Contents"]]
    assert {key.split("/")[1] for key in keys} == {folders[2].name, folders[3].name}

    # Only old backups left: the newest stays whatever its age.
    assert sealing.prune_local(tmp_path / "backups", 1, NOW + timedelta(days=400)) == [
        folders[2].name
    ]
    assert (tmp_path / "backups" / folders[3].name).exists()
