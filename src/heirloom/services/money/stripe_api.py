"""The two Stripe calls Heirloom makes (create a Checkout Session, refund a payment) through
the official library, and the verification of its webhooks. `api_base` points the library at
the dev stack's stand-in (devstack/stripe_standin.py) when Stripe is not reachable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import stripe
from stripe._base_address import BaseAddresses

from heirloom.domain.errors import PaymentRejected, ServiceUnavailable
from heirloom.domain.packs import Pack


@dataclass(frozen=True)
class CheckoutSession:
    """A session Stripe made: its id and the page the buyer pays on."""

    id: str
    url: str


@dataclass(frozen=True)
class StripeRefund:
    """A refund Stripe accepted: its id and amount (minor units)."""

    id: str
    amount: int


class StripeApi:
    """Stripe through its official library, with one client per process."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None,
        webhook_secret: str,
        tolerance_s: int,
    ) -> None:
        base: BaseAddresses | None = {"api": api_base.rstrip("/")} if api_base else None
        self.client = stripe.StripeClient(api_key, base_addresses=base, max_network_retries=2)
        self.webhook_secret = webhook_secret
        self.tolerance_s = tolerance_s

    def create_checkout(
        self, pack: Pack, *, user_id: str, email: str, success_url: str, cancel_url: str
    ) -> CheckoutSession:
        """A one-time payment session for the pack; the webhook names it by its id."""
        params: dict[str, Any] = {
            "mode": "payment",
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": user_id,
            "customer_email": email,
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": pack.currency,
                        "unit_amount": pack.price_minor,
                        "product_data": {"name": pack.name},
                    },
                }
            ],
            "metadata": {"user_id": user_id, "pack_id": pack.id},
        }
        try:
            session = self.client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
        except stripe.StripeError as err:
            raise ServiceUnavailable(f"The payment service did not answer: {err}") from err
        if not session.url:
            raise ServiceUnavailable("The payment service made a session without a page.")
        return CheckoutSession(id=session.id, url=session.url)

    def refund(self, payment_intent: str, amount_minor: int) -> StripeRefund:
        """Refund this much of a payment."""
        params: dict[str, Any] = {"payment_intent": payment_intent, "amount": amount_minor}
        try:
            refund = self.client.v1.refunds.create(params=params)  # type: ignore[arg-type]
        except stripe.StripeError as err:
            raise ServiceUnavailable(f"The payment service refused the refund: {err}") from err
        return StripeRefund(id=refund.id, amount=int(refund.amount))

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event, once its `Stripe-Signature` matches the secret within the tolerance."""
        if not signature:
            raise PaymentRejected("The notification has no Stripe-Signature header.")
        try:
            self.client.construct_event(
                payload, signature, self.webhook_secret, tolerance=self.tolerance_s
            )
        except stripe.SignatureVerificationError as err:
            raise PaymentRejected(f"The notification's signature does not verify: {err}") from err
        except ValueError as err:
            raise PaymentRejected("The notification is not valid JSON.") from err
        # The library checked the signature over these exact bytes: read them as they came.
        body: dict[str, Any] = json.loads(payload)
        return body
