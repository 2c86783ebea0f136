"""A local stand-in for the few Stripe calls Heirloom makes, for machines without the internet.

It speaks Stripe's form-encoded API for creating and retrieving Checkout Sessions and creating
refunds, so the official `stripe` library talks to it unchanged (`HEIRLOOM_STRIPE_API_BASE`).
Paying is a local page: `/pay/{session}` shows the session and a Pay button; paying marks the
session paid and POSTs `checkout.session.completed` to Heirloom's webhook, signed with Stripe's
scheme (`Stripe-Signature: t=<unix time>,v1=<HMAC-SHA256(secret, "t.payload")>`). A refund
POSTs `charge.refunded`; `/_admin/disputes/{payment_intent}` opens a dispute
(`charge.dispute.created`) and `/_admin/events/{id}/resend` delivers an event again.
What only real Stripe does (cards, 3-D Secure, payouts, dispute outcomes) is not simulated.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from heirloom.config import Settings

log = logging.getLogger(__name__)

API_VERSION = "2025-01-27.acacia"
DELIVERY_TIMEOUT_S = 10.0


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe's webhook signature: `t=<time>,v1=<hex HMAC-SHA256 of "t.payload">`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_body(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """An event as Stripe sends it to a webhook endpoint."""
    return {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": obj},
    }


def _new_id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


@dataclass
class _State:
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)  # by payment intent
    events: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _stripe_error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": "invalid_request_error", "message": message}}, status_code=status
    )


def create_standin(
    *, api_key: str, webhook_url: str, webhook_secret: str, base_url: str | None = None
) -> FastAPI:
    """The stand-in's app: the Stripe API subset, the pay page and the local admin routes.
    Pay pages are under `base_url` (None: the address each request came to)."""
    app = FastAPI(title="Stripe stand-in (local)")
    state = _State()

    def deliver(event_type: str, obj: dict[str, Any]) -> str:
        payload = json.dumps(event_body(event_type, obj)).encode()
        event_id = json.loads(payload)["id"]
        with state.lock:
            state.events[event_id] = payload
        _post(payload)
        return str(event_id)

    def _post(payload: bytes) -> None:
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": signature_header(payload, webhook_secret),
        }
        try:
            answer = httpx.post(
                webhook_url, content=payload, headers=headers, timeout=DELIVERY_TIMEOUT_S
            )
            log.info("webhook %s answered %s", webhook_url, answer.status_code)
        except httpx.HTTPError as err:
            log.warning("webhook %s failed: %s", webhook_url, err)

    def authorized(authorization: str | None) -> bool:
        return authorization == f"Bearer {api_key}"

    @app.post("/v1/checkout/sessions")
    async def create_session(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        if not authorized(authorization):
            return _stripe_error(401, "Invalid API Key provided.")
        form = await request.form()
        fields = {k: str(v) for k, v in form.items()}
        try:
            amount = int(fields["line_items[0][price_data][unit_amount]"]) * int(
                fields.get("line_items[0][quantity]", "1")
            )
            currency = fields["line_items[0][price_data][currency]"]
        except (KeyError, ValueError):
            return _stripe_error(400, "line_items[0] needs price_data with unit_amount.")
        session_id = _new_id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": fields.get("mode", "payment"),
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount,
            "currency": currency,
            "client_reference_id": fields.get("client_reference_id"),
            "customer_email": fields.get("customer_email"),
            "metadata": {
                k[len("metadata[") : -1]: v for k, v in fields.items() if k.startswith("metadata[")
            },
            "payment_intent": None,
            "success_url": fields.get("success_url"),
            "cancel_url": fields.get("cancel_url"),
            "url": f"{base_url or str(request.base_url).rstrip('/')}/pay/{session_id}",
            "livemode": False,
            "created": int(time.time()),
        }
        with state.lock:
            state.sessions[session_id] = session
        return JSONResponse(session)

    @app.get("/v1/checkout/sessions/{session_id}")
    def retrieve_session(
        session_id: str, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        if not authorized(authorization):
            return _stripe_error(401, "Invalid API Key provided.")
        session = state.sessions.get(session_id)
        if session is None:
            return _stripe_error(404, f"No such checkout.session: '{session_id}'")
        return JSONResponse(session)

    @app.post("/v1/refunds")
    async def create_refund(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        if not authorized(authorization):
            return _stripe_error(401, "Invalid API Key provided.")
        form = await request.form()
        payment_intent = str(form.get("payment_intent", ""))
        with state.lock:
            charge = state.charges.get(payment_intent)
            if charge is None:
                return _stripe_error(404, f"No such payment_intent: '{payment_intent}'")
            left = charge["amount"] - charge["amount_refunded"]
            amount = int(str(form.get("amount", left)))
            if amount <= 0 or amount > left:
                return _stripe_error(400, "The refund exceeds what is left of the charge.")
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            snapshot = dict(charge)
        refund = {
            "id": _new_id("re"),
            "object": "refund",
            "amount": amount,
            "currency": snapshot["currency"],
            "charge": snapshot["id"],
            "payment_intent": payment_intent,
            "status": "succeeded",
            "created": int(time.time()),
        }
        deliver("charge.refunded", snapshot)
        return JSONResponse(refund)

    @app.get("/pay/{session_id}", response_class=HTMLResponse)
    def pay_page(session_id: str) -> Response:
        session = state.sessions.get(session_id)
        if session is None:
            return HTMLResponse("<p>No such session.</p>", status_code=404)
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        return HTMLResponse(
            "<!doctype html><title>Pay (Stripe stand-in)</title>"
            "<h1>Stripe stand-in: test payment</h1>"
            f"<p>Session {html.escape(session_id)}: <strong>{html.escape(amount)}</strong></p>"
            f'<form method="post" action="/pay/{html.escape(session_id)}">'
            '<button type="submit">Pay</button></form>'
        )

    @app.post("/pay/{session_id}")
    def pay(session_id: str) -> Response:
        with state.lock:
            session = state.sessions.get(session_id)
            if session is None:
                return HTMLResponse("<p>No such session.</p>", status_code=404)
            if session["payment_status"] != "paid":
                payment_intent = _new_id("pi")
                session.update(
                    status="complete", payment_status="paid", payment_intent=payment_intent
                )
                state.charges[payment_intent] = {
                    "id": _new_id("ch"),
                    "object": "charge",
                    "amount": session["amount_total"],
                    "amount_refunded": 0,
                    "currency": session["currency"],
                    "payment_intent": payment_intent,
                    "refunded": False,
                    "paid": True,
                }
                completed: dict[str, Any] | None = dict(session)
            else:
                completed = None
        if completed is not None:
            deliver("checkout.session.completed", completed)
        target = str(session.get("success_url") or "/").replace("{CHECKOUT_SESSION_ID}", session_id)
        return RedirectResponse(target, status_code=303)

    @app.post("/_admin/disputes/{payment_intent}")
    def dispute(payment_intent: str) -> Response:
        charge = state.charges.get(payment_intent)
        if charge is None:
            return _stripe_error(404, f"No such payment_intent: '{payment_intent}'")
        dispute_obj = {
            "id": _new_id("dp"),
            "object": "dispute",
            "amount": charge["amount"],
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": payment_intent,
            "status": "needs_response",
            "reason": "fraudulent",
        }
        return JSONResponse({"event": deliver("charge.dispute.created", dispute_obj)})

    @app.post("/_admin/events/{event_id}/resend")
    def resend(event_id: str) -> Response:
        payload = state.events.get(event_id)
        if payload is None:
            return _stripe_error(404, f"No such event: '{event_id}'")
        _post(payload)
        return JSONResponse({"resent": event_id})

    return app


def serve_standin(settings: Settings) -> None:
    """Run the stand-in on loopback at the dev stack's port until stopped."""
    app = create_standin(
        api_key=settings.stripe_api_key,
        webhook_url=f"{settings.api_base_url.rstrip('/')}/v1/stripe/webhook",
        webhook_secret=settings.stripe_webhook_secret,
        base_url=settings.devstack_stripe_base_url,
    )
    uvicorn.run(app, host="127.0.0.1", port=settings.devstack_stripe_port, log_level="warning")
