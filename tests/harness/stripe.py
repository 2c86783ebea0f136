"""Stripe for tests: the dev stack's stand-in served on a free port, and signed events."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

from heirloom.devstack.stripe_standin import create_standin, event_body, signature_header
from tests.harness.serving import serve_app

SECRET = "whsec_test_secret"
API_KEY = "sk_test_heirloom_tests"


@contextlib.contextmanager
def standin(webhook_url: str, *, secret: str = SECRET) -> Iterator[str]:
    """The stand-in on a free loopback port, posting its webhooks to `webhook_url`."""
    app = create_standin(api_key=API_KEY, webhook_url=webhook_url, webhook_secret=secret)
    with serve_app(app) as url:
        yield url


def signed(
    event_type: str,
    obj: dict[str, Any],
    *,
    event_id: str | None = None,
    secret: str = SECRET,
    age_s: int = 0,
) -> tuple[bytes, str]:
    """An event's payload and its Stripe-Signature header, signed `age_s` seconds ago."""
    payload = json.dumps(event_body(event_type, obj, event_id)).encode()
    return payload, signature_header(payload, secret, int(time.time()) - age_s)


def completed_session(session_id: str, payment_intent: str, amount: int) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "payment_status": "paid",
        "status": "complete",
        "amount_total": amount,
        "currency": "usd",
        "payment_intent": payment_intent,
    }


def refunded_charge(payment_intent: str, amount: int, refunded: int) -> dict[str, Any]:
    return {
        "id": f"ch_{payment_intent}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": refunded,
        "currency": "usd",
        "payment_intent": payment_intent,
        "refunded": refunded >= amount,
    }


def dispute(payment_intent: str, amount: int) -> dict[str, Any]:
    return {
        "id": f"dp_{payment_intent}",
        "object": "dispute",
        "amount": amount,
        "currency": "usd",
        "payment_intent": payment_intent,
        "charge": f"ch_{payment_intent}",
    }
