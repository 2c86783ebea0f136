"""Breach and abuse detection: probing, password-spraying, shared keys and bulk downloads.

Counting uses the rate limiter's storage (shared through Redis when configured), so a
pattern spread over several API processes is still seen. A detection is recorded once per
window in `abuse_signals` (the audit trail), logged at WARNING on the `heirloom.abuse`
logger, and, with HEIRLOOM_ABUSE_AUTO_SUSPEND, suspends the key (revoked, with the reason).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from limits import RateLimitItemPerSecond
from sqlmodel import col, select

from heirloom.config import Settings
from heirloom.db.engine import Database
from heirloom.db.models import AbuseSignal, as_utc, utcnow
from heirloom.services.abuse.rate_limits import RateLimiter, once_per, parse_limit
from heirloom.services.accounts.keys import ApiKeys

log = logging.getLogger("heirloom.abuse")

HOUR_S = 3600
# Hours of download history a key's usual volume is averaged over.
BASELINE_HOURS = 24


class SignalKind(StrEnum):
    """What was detected."""

    JOB_ID_PROBING = "job_id_probing"
    AUTH_FAILURES = "auth_failures"
    KEY_MANY_ADDRESSES = "key_many_addresses"
    DOWNLOAD_VOLUME = "download_volume"


@dataclass(frozen=True)
class Signal:
    """A recorded detection, as the admin route lists it."""

    id: int
    kind: str
    key_id: str | None
    user_id: str | None
    address: str | None
    observed: int
    threshold: str
    suspended: bool
    created_at: datetime


class AbuseMonitor:
    """Feeds request outcomes into windowed counters and records what crosses a threshold."""

    def __init__(
        self, db: Database, keys: ApiKeys, limiter: RateLimiter, settings: Settings
    ) -> None:
        self.db = db
        self.keys = keys
        self.limiter = limiter
        self.settings = settings

    def job_not_found(self, key_id: str, user_id: str, address: str) -> Signal | None:
        """A 404 on a job id: many in a window look like probing other users' ids."""
        threshold = self.settings.abuse_not_found_probe
        verdict = self.limiter.hit("abuse-404", threshold, key_id)
        if verdict.allowed:
            return None
        return self._detected(
            SignalKind.JOB_ID_PROBING, threshold, verdict.quota + 1, key_id, user_id, address
        )

    def auth_failed(self, address: str) -> Signal | None:
        """A refused API key from an address: many look like guessing keys."""
        threshold = self.settings.abuse_auth_failures
        verdict = self.limiter.hit("abuse-auth", threshold, address)
        if verdict.allowed:
            return None
        return self._detected(
            SignalKind.AUTH_FAILURES, threshold, verdict.quota + 1, None, None, address
        )

    def key_used(self, key_id: str, user_id: str, address: str) -> Signal | None:
        """A key seen from an address: many distinct addresses look like a leaked key."""
        threshold = self.settings.abuse_key_addresses
        item = parse_limit(threshold)
        # Only the first request from an address in the window counts towards the budget
        # of distinct addresses.
        if not self.limiter.hit("abuse-pair", once_per(item), key_id, address).allowed:
            return None
        verdict = self.limiter.hit("abuse-addresses", item, key_id)
        if verdict.allowed:
            return None
        return self._detected(
            SignalKind.KEY_MANY_ADDRESSES, threshold, verdict.quota + 1, key_id, user_id, address
        )

    def downloaded(
        self, key_id: str, user_id: str, address: str, size: int, *, now: float
    ) -> Signal | None:
        """Bytes a key downloaded: this hour far above its usual hourly volume is a signal."""
        hour = int(now // HOUR_S)
        expiry = (BASELINE_HOURS + 1) * HOUR_S
        current = self.limiter.add(f"abuse-dl/{key_id}/{hour}", size, expiry_s=expiry)
        floor = self.settings.abuse_download_floor_bytes
        if current <= floor:
            return None
        history = sum(
            self.limiter.read(f"abuse-dl/{key_id}/{hour - back}")
            for back in range(1, BASELINE_HOURS + 1)
        )
        usual = history / BASELINE_HOURS
        limit = max(floor, self.settings.abuse_download_factor * usual)
        if current <= limit:
            return None
        threshold = f"{int(limit)} bytes/hour"
        return self._detected(
            SignalKind.DOWNLOAD_VOLUME, threshold, current, key_id, user_id, address, HOUR_S
        )

    def signals(self, *, limit: int, before_id: int | None = None) -> list[Signal]:
        """Recorded detections, newest first; page with `before_id`."""
        statement = select(AbuseSignal)
        if before_id is not None:
            statement = statement.where(col(AbuseSignal.id) < before_id)
        statement = statement.order_by(col(AbuseSignal.id).desc()).limit(limit)
        with self.db.session() as session:
            return [_signal(row) for row in session.exec(statement)]

    def _detected(
        self,
        kind: SignalKind,
        threshold: str,
        observed: int,
        key_id: str | None,
        user_id: str | None,
        address: str,
        window_s: int | None = None,
    ) -> Signal | None:
        subject = key_id or address
        window = window_s or parse_limit(threshold).get_expiry()
        once = RateLimitItemPerSecond(1, window)
        if not self.limiter.hit(f"abuse-seen/{kind}", once, subject).allowed:
            return None  # already recorded in this window
        suspend = self.settings.abuse_auto_suspend and key_id is not None
        if suspend and key_id is not None:
            self.keys.revoke(key_id, reason=f"suspended: {kind.value}")
        row = AbuseSignal(
            kind=kind.value,
            key_id=key_id,
            user_id=user_id,
            address=address[:64],
            observed=observed,
            threshold=threshold,
            suspended=suspend,
            created_at=utcnow(),
        )
        with self.db.session() as session:
            session.add(row)
            session.flush()
            signal = _signal(row)
        log.warning(
            "abuse detected: %s key=%s user=%s address=%s observed=%d threshold=%s suspended=%s",
            kind.value,
            key_id,
            user_id,
            address,
            observed,
            threshold,
            suspend,
        )
        return signal


def _signal(row: AbuseSignal) -> Signal:
    assert row.id is not None
    return Signal(
        id=row.id,
        kind=row.kind,
        key_id=row.key_id,
        user_id=row.user_id,
        address=row.address,
        observed=row.observed,
        threshold=row.threshold,
        suspended=row.suspended,
        created_at=as_utc(row.created_at),
    )
