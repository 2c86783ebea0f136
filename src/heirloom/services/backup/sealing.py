"""Seal a backup folder written by deploy/backup/backup.sh: encrypt each dump and archive for
age recipients (pyrage; the plaintext is removed), copy the folder to an S3 bucket off the host,
and prune folders past the retention, here and in the bucket. Unseal decrypts for a restore.

A folder is named by its UTC stamp (20261207T030000Z); SHA256SUMS (of the plaintext) and
TAKEN_AT stay readable, so a restore can check the decrypted files and knows the backup's time.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyrage

SUFFIX = ".age"
PLAIN = frozenset({"SHA256SUMS", "TAKEN_AT"})
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


class BackupError(Exception):
    """A backup folder or key that cannot be used; the message says why."""


def stamp_time(name: str) -> datetime | None:
    """The UTC time of a backup folder's name, or None for any other name."""
    try:
        return datetime.strptime(name, STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def taken_at(folder: Path) -> datetime:
    """When backup.sh began the backup in `folder` (its TAKEN_AT file)."""
    text = (folder / "TAKEN_AT").read_text().strip()
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def seal(folder: Path, recipients: list[str]) -> list[Path]:
    """Encrypt every dump and archive in `folder` for `recipients` (age public keys), removing
    the plaintext; returns the encrypted files. Sealing a sealed folder changes nothing."""
    if not recipients:
        raise BackupError("no age recipient: set HEIRLOOM_BACKUP_AGE_RECIPIENTS")
    try:
        keys = [pyrage.x25519.Recipient.from_str(r.strip()) for r in recipients]
    except pyrage.RecipientError as err:
        raise BackupError(f"not an age public key: {err}") from None
    if not (folder / "SHA256SUMS").is_file():
        raise BackupError(f"{folder} is not a finished backup (no SHA256SUMS)")
    sealed = []
    for path in sorted(folder.iterdir()):
        if path.name in PLAIN or path.suffix == SUFFIX:
            continue
        target = path.with_name(path.name + SUFFIX)
        partial = path.with_name(path.name + SUFFIX + ".partial")
        pyrage.encrypt_file(str(path), str(partial), keys)
        partial.rename(target)
        path.unlink()
        sealed.append(target)
    return sorted(folder.glob(f"*{SUFFIX}"))


def unseal(folder: Path, identity_file: Path) -> list[Path]:
    """Decrypt every sealed file in `folder` with the age identity (secret key) in
    `identity_file`, beside the encrypted ones; returns the decrypted files."""
    lines = [
        line.strip()
        for line in identity_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    try:
        identities = [pyrage.x25519.Identity.from_str(line) for line in lines]
    except pyrage.IdentityError as err:
        raise BackupError(f"{identity_file} holds no age identity: {err}") from None
    opened = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        target = path.with_name(path.name.removesuffix(SUFFIX))
        try:
            pyrage.decrypt_file(str(path), str(target), identities)
        except pyrage.DecryptError as err:
            raise BackupError(f"{path.name}: not for this identity ({err})") from None
        opened.append(target)
    return opened


def ship(folder: Path, s3: Any, bucket: str, prefix: str) -> list[str]:
    """Copy the sealed folder to `bucket` under `prefix`/<stamp>/; returns the keys. Refuses a
    folder still holding plaintext dumps: only encrypted backups leave the host."""
    plain = [p.name for p in folder.iterdir() if p.name not in PLAIN and p.suffix != SUFFIX]
    if plain:
        raise BackupError(f"{folder} is not sealed: {sorted(plain)}")
    keys = []
    for path in sorted(folder.iterdir()):
        key = f"{prefix.strip('/')}/{folder.name}/{path.name}".lstrip("/")
        s3.upload_file(str(path), bucket, key)
        keys.append(key)
    return keys


def prune_local(backup_dir: Path, keep_days: int, now: datetime) -> list[str]:
    """Delete backup folders older than `keep_days`; the newest is always kept."""
    stamped = sorted(
        (when, path)
        for path in backup_dir.iterdir()
        if path.is_dir() and (when := stamp_time(path.name)) is not None
    )
    cutoff = now - timedelta(days=keep_days)
    removed = []
    for when, path in stamped[:-1]:
        if when < cutoff:
            shutil.rmtree(path)
            removed.append(path.name)
    return removed


def prune_remote(s3: Any, bucket: str, prefix: str, keep_days: int, now: datetime) -> list[str]:
    """Delete the bucket's backup folders older than `keep_days`; the newest is always kept."""
    base = f"{prefix.strip('/')}/".lstrip("/")
    folders: dict[str, list[str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        for item in page.get("Contents", []):
            name = item["Key"][len(base) :].split("/", 1)[0]
            folders.setdefault(name, []).append(item["Key"])
    stamped = sorted((when, name) for name in folders if (when := stamp_time(name)) is not None)
    cutoff = now - timedelta(days=keep_days)
    removed = []
    for when, name in stamped[:-1]:
        if when < cutoff:
            for key in folders[name]:
                s3.delete_object(Bucket=bucket, Key=key)
            removed.append(name)
    return removed
