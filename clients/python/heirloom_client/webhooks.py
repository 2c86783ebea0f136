"""Verify a webhook delivery: `Heirloom-Signature: t=<unix>,v1=<hex>[,v1=<hex>]`, HMAC-SHA256
of "<t>.<raw body>" with the webhook's secret (a second v1 during a secret rotation)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "Heirloom-Signature"


def verify_webhook(
    body: bytes,
    header: str,
    secrets: str | Sequence[str],
    *,
    tolerance_s: int = 300,
    now: float | None = None,
) -> bool:
    """Whether `body` (the raw bytes, before any JSON parsing) was signed by one of `secrets`
    within `tolerance_s` seconds of `now`: a replayed old delivery is refused."""
    candidates = [secrets] if isinstance(secrets, str) else list(secrets)
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    message = str(timestamp).encode() + b"." + body
    for secret in candidates:
        expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, signature) for signature in signatures):
            return True
    return False
