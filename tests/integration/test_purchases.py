"""Buying credits and the forever tier through Stripe Checkout (the local stand-in), settled by
signed webhooks: exactly once whatever Stripe repeats or reorders, refused when the signature
or its time is wrong, and reported as money received."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, select

from heirloom.config import Settings
from heirloom.db.models import CreditEntry, Job, MoneyMovement, User, utcnow
from heirloom.domain.errors import OutstandingDebt, PaymentRejected
from heirloom.domain.packs import PACKS, find_pack
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.money.credits import NewJob
from tests.conftest import ServedApi
from tests.harness import stripe as fake
from tests.support import completed_job, ledger_violations

PACK = find_pack(PACKS, "credits-200")
FOREVER = find_pack(PACKS, "forever")


@dataclass
class Shop:
    services: Services
    standin_url: str


@pytest.fixture
def shop(database_url: str, tmp_path: Path) -> Iterator[Shop]:
    # The stand-in's webhooks go nowhere here: the tests deliver signed events themselves.
    with fake.standin("http://127.0.0.1:9/unreachable") as url:
        settings = Settings(
            home=tmp_path / "home",
            database_url=database_url,
            stripe_api_base=url,
            stripe_api_key=fake.API_KEY,
            stripe_webhook_secret=fake.SECRET,
        )
        services = Services.build(settings)
        try:
            yield Shop(services, url)
            assert ledger_violations(services) == []
        finally:
            services.close()


def _user(services: Services, tier: Tier = Tier.FREE, credits: int = 0) -> str:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    return services.accounts.create(email=email, tier=tier, credits=credits).user.id


def _checkout(services: Services, user_id: str, pack_id: str) -> str:
    started = services.purchases.checkout(
        user_id, pack_id, success_url="http://x/ok", cancel_url="http://x/no"
    )
    assert started.url.endswith(f"/pay/{started.purchase_id}")
    return started.purchase_id


def _deliver(services: Services, payload: bytes, signature: str) -> bool:
    return services.purchases.handle_webhook(payload, signature).duplicate


def _user_row(services: Services, user_id: str) -> User:
    with services.db.session() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user


def _ledger_kinds(services: Services, user_id: str) -> list[tuple[str, int]]:
    with services.db.session() as session:
        rows = session.exec(
            select(CreditEntry).where(CreditEntry.user_id == user_id).order_by(col(CreditEntry.id))
        )
        return [(row.kind, row.amount) for row in rows]


def test_a_completed_checkout_delivered_three_times_credits_once(shop: Shop) -> None:
    services = shop.services
    user_id = _user(services)
    session_id = _checkout(services, user_id, PACK.id)
    payment = f"pi_{uuid.uuid4().hex}"
    payload, signature = fake.signed(
        "checkout.session.completed", fake.completed_session(session_id, payment, PACK.price_minor)
    )
    duplicates = [_deliver(services, payload, signature) for _ in range(3)]
    assert duplicates == [False, True, True]
    # The same completion under a new event id (Stripe can resend as a new event) is a no-op too.
    again, again_signature = fake.signed(
        "checkout.session.completed", fake.completed_session(session_id, payment, PACK.price_minor)
    )
    assert _deliver(services, again, again_signature) is False
    assert _user_row(services, user_id).balance == PACK.credits
    assert _ledger_kinds(services, user_id) == [("purchase", PACK.credits)]
    [receipt] = services.purchases.receipts(user_id).rows
    assert (receipt.status, receipt.paid_minor) == ("paid", PACK.price_minor)


def test_a_refund_before_its_completion_still_ends_exact(shop: Shop) -> None:
    services = shop.services
    user_id = _user(services, credits=5)
    session_id = _checkout(services, user_id, PACK.id)
    payment = f"pi_{uuid.uuid4().hex}"
    refund = fake.signed(
        "charge.refunded", fake.refunded_charge(payment, PACK.price_minor, PACK.price_minor)
    )
    completion = fake.signed(
        "checkout.session.completed", fake.completed_session(session_id, payment, PACK.price_minor)
    )
    # Out of order, each delivered three times, interleaved.
    for payload, signature in (refund, completion, refund, completion, refund, completion):
        _deliver(services, payload, signature)
    user = _user_row(services, user_id)
    assert (user.balance, user.debt) == (5, 0)
    assert sorted(_ledger_kinds(services, user_id)) == sorted(
        [("grant", 5), ("purchase", PACK.credits), ("clawback", -PACK.credits)]
    )
    [receipt] = services.purchases.receipts(user_id).rows
    assert (receipt.status, receipt.credits_taken_back) == ("refunded", PACK.credits)


def test_a_refund_after_credits_were_spent_records_a_debt_that_blocks_jobs(shop: Shop) -> None:
    services = shop.services
    user_id = _user(services, tier=Tier.PAID)
    session_id = _checkout(services, user_id, PACK.id)
    payment = f"pi_{uuid.uuid4().hex}"
    _deliver(
        services,
        *fake.signed(
            "checkout.session.completed",
            fake.completed_session(session_id, payment, PACK.price_minor),
        ),
    )
    # Spend most of the credits on jobs.
    for _ in range(9):
        services.credits.reserve(
            NewJob(
                job_id=uuid.uuid4().hex,
                user_id=user_id,
                operations="restore,colorize",
                tier=Tier.PAID,
                original_key="k",
            )
        )
    spent = 9 * 4
    refund = fake.signed(
        "charge.refunded", fake.refunded_charge(payment, PACK.price_minor, PACK.price_minor)
    )
    for _ in range(3):
        _deliver(services, *refund)
    user = _user_row(services, user_id)
    assert (user.balance, user.debt) == (0, spent)
    with pytest.raises(OutstandingDebt) as refused:
        services.credits.reserve(
            NewJob(
                job_id=uuid.uuid4().hex,
                user_id=user_id,
                operations="restore",
                tier=Tier.PAID,
                original_key="k",
            )
        )
    assert (refused.value.http_status, refused.value.details["debt"]) == (402, spent)
    # A grant pays the debt back first; jobs start again once it is paid.
    services.credits.grant(user_id, spent + 10, "goodwill", "pay-debt")
    user = _user_row(services, user_id)
    assert (user.balance, user.debt) == (10, 0)
    with services.db.session() as session:
        assert session.exec(select(Job).where(Job.user_id == user_id)).first() is not None


def test_a_wrong_signature_or_an_old_timestamp_is_refused_and_changes_nothing(shop: Shop) -> None:
    services = shop.services
    user_id = _user(services)
    session_id = _checkout(services, user_id, PACK.id)
    obj = fake.completed_session(session_id, f"pi_{uuid.uuid4().hex}", PACK.price_minor)
    payload, _ = fake.signed("checkout.session.completed", obj)
    forged = fake.signed("checkout.session.completed", obj, secret="whsec_someone_else")
    stale = fake.signed("checkout.session.completed", obj, age_s=301)
    tampered_payload = payload.replace(b'"paid"', b'"paid" ', 1)
    _, good_signature = fake.signed("checkout.session.completed", obj)
    for body, signature in (
        forged,
        stale,
        (tampered_payload, fake.signed("checkout.session.completed", obj)[1]),
        (payload, ""),
        (b"not json", good_signature),
    ):
        with pytest.raises(PaymentRejected):
            services.purchases.handle_webhook(body, signature)
    assert _user_row(services, user_id).balance == 0
    assert _ledger_kinds(services, user_id) == []
    [receipt] = services.purchases.receipts(user_id).rows
    assert receipt.status == "open"


def test_a_forever_purchase_sets_the_tier_and_its_refund_sets_it_back(shop: Shop) -> None:
    services = shop.services
    user_id = _user(services, credits=5)
    # A free-tier result made before the upgrade (it cost 2 credits), kept 7 days.
    job_id = completed_job(services, user_id, size=100)
    services.retention.stamp_expiry(job_id)
    with services.db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert job.expires_at is not None
    session_id = _checkout(services, user_id, FOREVER.id)
    payment = f"pi_{uuid.uuid4().hex}"
    _deliver(
        services,
        *fake.signed(
            "checkout.session.completed",
            fake.completed_session(session_id, payment, FOREVER.price_minor),
        ),
    )
    user = _user_row(services, user_id)
    assert (user.tier, user.balance) == ("forever", 3 + FOREVER.credits)
    with services.db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert job.expires_at is None  # kept forever from then
    # A second forever checkout is refused while the tier holds.
    with pytest.raises(Exception, match="already on the forever tier"):
        _checkout(services, user_id, FOREVER.id)

    dispute = fake.signed("charge.dispute.created", fake.dispute(payment, FOREVER.price_minor))
    for _ in range(2):
        _deliver(services, *dispute)
    user = _user_row(services, user_id)
    assert (user.tier, user.balance, user.debt) == ("free", 3, 0)
    assert [(c.from_tier, c.to_tier) for c in services.accounts.tier_changes(user_id)] == [
        ("free", "forever"),
        ("forever", "free"),
    ]
    [receipt] = services.purchases.receipts(user_id).rows
    assert receipt.status == "disputed"


def test_revenue_is_payments_minus_refunds(shop: Shop) -> None:
    services = shop.services
    start = utcnow() - timedelta(seconds=1)
    user_id = _user(services)
    paid: list[tuple[str, str, int]] = []
    for pack in (PACK, find_pack(PACKS, "credits-50"), find_pack(PACKS, "credits-1000")):
        session_id = _checkout(services, user_id, pack.id)
        payment = f"pi_{uuid.uuid4().hex}"
        _deliver(
            services,
            *fake.signed(
                "checkout.session.completed",
                fake.completed_session(session_id, payment, pack.price_minor),
            ),
        )
        paid.append((session_id, payment, pack.price_minor))
    # A partial refund of the first and a full refund of the second (the dashboard's refund
    # path is test_an_admin_refund_goes_through_stripe_and_takes_the_credits_back).
    _, first_payment, first_price = paid[0]
    _deliver(
        services,
        *fake.signed("charge.refunded", fake.refunded_charge(first_payment, first_price, 300)),
    )
    _, second_payment, second_price = paid[1]
    _deliver(
        services,
        *fake.signed(
            "charge.refunded", fake.refunded_charge(second_payment, second_price, second_price)
        ),
    )
    end = utcnow() + timedelta(seconds=1)
    report = services.costs.report("day", start, end)
    payments = sum(price for _, _, price in paid)
    refunds = 300 + second_price
    assert report.totals.received == {"usd": payments - refunds}
    assert report.totals.revenue_usd == pytest.approx((payments - refunds) / 100)
    assert (report.totals.payments, report.totals.refunds) == (3, 2)
    with services.db.session() as session:
        movements = list(session.exec(select(MoneyMovement)))
    assert sum(m.amount_minor for m in movements) == payments - refunds
    # Credits: 200 - ceil(200 * 300 / 1800) taken back, 50 all taken back, 1000 kept.
    assert _user_row(services, user_id).balance == (200 - 34) + 0 + 1000


def test_an_admin_refund_goes_through_stripe_and_takes_the_credits_back(shop: Shop) -> None:
    services = shop.services
    user_id = _user(services)
    started = services.purchases.checkout(
        user_id, PACK.id, success_url="http://x/ok", cancel_url="http://x/no"
    )
    # Pay on the stand-in's page: it records the payment (its webhook goes nowhere here).
    with httpx.Client(base_url=shop.standin_url) as standin:
        assert standin.post(f"/pay/{started.purchase_id}").status_code == 303
        session = standin.get(
            f"/v1/checkout/sessions/{started.purchase_id}",
            headers={"Authorization": f"Bearer {fake.API_KEY}"},
        ).json()
    completion = fake.signed(
        "checkout.session.completed",
        fake.completed_session(started.purchase_id, session["payment_intent"], PACK.price_minor),
    )
    _deliver(services, *completion)
    receipt = services.purchases.refund(started.purchase_id)
    assert (receipt.status, receipt.credits_taken_back) == ("refunded", PACK.credits)
    assert _user_row(services, user_id).balance == 0
    # Stripe's own notification of the same refund, and a second refund, change nothing.
    _deliver(
        services,
        *fake.signed(
            "charge.refunded",
            fake.refunded_charge(session["payment_intent"], PACK.price_minor, PACK.price_minor),
        ),
    )
    with pytest.raises(Exception, match="already paid back"):
        services.purchases.refund(started.purchase_id)
    report = services.costs.report(
        "day", utcnow() - timedelta(minutes=5), utcnow() + timedelta(seconds=1)
    )
    assert report.totals.received == {"usd": 0}
    assert _ledger_kinds(services, user_id) == [("purchase", 200), ("clawback", -200)]


def test_over_http_a_paid_checkout_credits_and_the_dashboard_refund_takes_back(
    serve_api: Callable[..., ServedApi],
) -> None:
    api = serve_api(stripe_webhook_secret=fake.SECRET)
    _, key = api.new_user(credits=0)
    start = utcnow() - timedelta(seconds=1)
    with fake.standin(f"{api.url}/v1/stripe/webhook") as standin_url:
        # A second API on the same database, calling the stand-in (whose webhooks reach `api`).
        shop = serve_api(
            home=api.settings.home,
            stripe_webhook_secret=fake.SECRET,
            stripe_api_key=fake.API_KEY,
            stripe_api_base=standin_url,
        )
        with shop.client(key) as client, shop.client(shop.admin_key) as admin:
            started = client.post("/v1/checkout", json={"pack": "credits-50"})
            assert started.status_code == 201, started.text
            session_id = started.json()["purchase_id"]
            obj = fake.completed_session(session_id, "pi_http", 500)
            for body, signature in (
                fake.signed("checkout.session.completed", obj, secret="whsec_other"),
                fake.signed("checkout.session.completed", obj, age_s=600),
            ):
                refused = client.post(
                    "/v1/stripe/webhook", content=body, headers={"Stripe-Signature": signature}
                )
                assert (refused.status_code, refused.json()["error"]["code"]) == (
                    400,
                    "payment_rejected",
                )
            assert client.get("/v1/me").json()["balance"] == 0
            # Paying on the stand-in's page makes it post the signed webhook to the API.
            assert httpx.post(f"{standin_url}/pay/{session_id}").status_code == 303
            assert client.get("/v1/me").json()["balance"] == 50
            [receipt] = client.get("/v1/me/purchases").json()["purchases"]
            assert (receipt["status"], receipt["credits"]) == ("paid", 50)

            refunded = admin.post(f"/v1/admin/purchases/{session_id}/refund")
            assert refunded.status_code == 200, refunded.text
            assert (refunded.json()["status"], refunded.json()["credits_taken_back"]) == (
                "refunded",
                50,
            )
            again = admin.post(f"/v1/admin/purchases/{session_id}/refund")
            assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
            me = client.get("/v1/me").json()
            assert (me["balance"], me["debt"]) == (0, 0)
            report = admin.get(
                "/v1/admin/reports/costs",
                params={
                    "from": start.isoformat(),
                    "to": (utcnow() + timedelta(seconds=1)).isoformat(),
                },
            ).json()
    assert report["totals"]["received"] == {"usd": 0}
    assert (report["totals"]["payments"], report["totals"]["refunds"]) == (1, 1)


def test_concurrent_deliveries_of_a_completion_and_its_refund_end_exact(shop: Shop) -> None:
    services = shop.services
    user_id = _user(services, credits=7)
    session_id = _checkout(services, user_id, PACK.id)
    payment = f"pi_{uuid.uuid4().hex}"
    completion = fake.signed(
        "checkout.session.completed", fake.completed_session(session_id, payment, PACK.price_minor)
    )
    refund = fake.signed(
        "charge.refunded", fake.refunded_charge(payment, PACK.price_minor, PACK.price_minor)
    )
    # Each event three times, plus the same completion under three new event ids.
    deliveries = [completion, refund] * 3 + [
        fake.signed(
            "checkout.session.completed",
            fake.completed_session(session_id, payment, PACK.price_minor),
        )
        for _ in range(3)
    ]
    with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        outcomes = list(pool.map(lambda d: _deliver(services, *d), deliveries))
    assert outcomes.count(False) == 2 + 3  # each event id applied once, the rest duplicates
    user = _user_row(services, user_id)
    assert (user.balance, user.debt) == (7, 0)
    assert sorted(_ledger_kinds(services, user_id)) == sorted(
        [("grant", 7), ("purchase", PACK.credits), ("clawback", -PACK.credits)]
    )


def test_a_session_paid_before_its_purchase_row_was_written_is_credited_from_its_metadata(
    shop: Shop,
) -> None:
    services = shop.services
    user_id = _user(services)
    obj = fake.completed_session("cs_test_early", f"pi_{uuid.uuid4().hex}", PACK.price_minor)
    obj["metadata"] = {"user_id": user_id, "pack_id": PACK.id}
    _deliver(services, *fake.signed("checkout.session.completed", obj))
    assert _user_row(services, user_id).balance == PACK.credits
    [receipt] = services.purchases.receipts(user_id).rows
    assert (receipt.id, receipt.status) == ("cs_test_early", "paid")
