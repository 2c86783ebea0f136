"""CreditManager on a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlmodel import func, select

from heirloom.db.models import CreditEntry, Job
from heirloom.domain.errors import (
    DailyLimitReached,
    IdempotencyKeyReused,
    InsufficientCredits,
    InvalidRequest,
    JobAlreadyFinished,
)
from heirloom.domain.jobs import JobStatus
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.jobs.store import ResultKeys
from heirloom.services.money.credits import NewJob
from tests.support import ledger_rows


def new_user(services: Services, *, tier: Tier = Tier.PAID, credits: int = 20) -> str:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    return services.accounts.create(email=email, tier=tier, credits=credits).user.id


def new_job(user_id: str, operations: str = "restore", tier: Tier = Tier.PAID) -> NewJob:
    job_id = uuid.uuid4().hex
    return NewJob(
        job_id=job_id,
        user_id=user_id,
        operations=operations,
        tier=tier,
        original_key=f"users/{user_id}/jobs/{job_id}/original.jpg",
    )


def ledger_kinds(services: Services, job_id: str) -> Counter[str]:
    with services.db.session() as session:
        rows = session.exec(select(CreditEntry.kind).where(CreditEntry.job_id == job_id)).all()
    return Counter(rows)


def test_reserve_charges_price_and_creates_the_job(services: Services) -> None:
    user = new_user(services, credits=10)
    job = new_job(user, "restore,colorize")
    reservation = services.credits.reserve(job)
    assert (reservation.cost, reservation.balance) == (4, 6)
    row = services.jobs.get(job.job_id)
    assert (row.status, row.cost, row.user_id) == ("queued", 4, user)
    assert services.credits.check_consistency() == []


def test_repeated_reserve_charges_once(services: Services) -> None:
    user = new_user(services, credits=10)
    job = new_job(user)
    first = services.credits.reserve(job)
    # A retried activity after its transaction committed: same job, same answer.
    second = services.credits.reserve(job)
    assert first.cost == second.cost == 2
    assert services.credits.balance(user) == 8
    assert ledger_kinds(services, job.job_id) == Counter({"reserve": 1})


def test_insufficient_credits_writes_nothing(services: Services) -> None:
    user = new_user(services, credits=3)
    job = new_job(user, "restore,colorize")
    with pytest.raises(InsufficientCredits) as refused:
        services.credits.reserve(job)
    assert refused.value.http_status == 402
    assert services.credits.balance(user) == 3
    assert services.jobs.find(job.job_id) is None
    assert ledger_kinds(services, job.job_id) == Counter()


def test_free_tier_fourth_job_of_the_day_is_refused(services: Services) -> None:
    user = new_user(services, tier=Tier.FREE, credits=100)
    now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    today = [new_job(user, tier=Tier.FREE) for _ in range(3)]
    for job in today:
        services.credits.reserve(job, now=now)
    with pytest.raises(DailyLimitReached) as refused:
        services.credits.reserve(new_job(user, tier=Tier.FREE), now=now)
    assert refused.value.http_status == 429
    assert refused.value.details["resets_at"] == datetime(2026, 11, 26, tzinfo=UTC)
    assert services.credits.balance(user) == 94
    # The next UTC day the limit starts again (once yesterday's jobs are no longer in
    # progress: the free tier also caps jobs in progress at three).
    for job in today:
        services.jobs.complete(job.job_id, ResultKeys("i", "r", "t", "c", 10, 10))
    services.credits.reserve(new_job(user, tier=Tier.FREE), now=now + timedelta(days=1))


def test_refunded_jobs_give_their_daily_slot_back(services: Services) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    user = new_user(services, tier=Tier.FREE, credits=100)
    jobs = [new_job(user, tier=Tier.FREE) for _ in range(3)]
    for job in jobs:
        services.credits.reserve(job, now=now)
    with pytest.raises(DailyLimitReached):
        services.credits.reserve(new_job(user, tier=Tier.FREE), now=now)
    services.jobs.finish_unsuccessfully(
        jobs[0].job_id, JobStatus.FAILED, code="model_failed", message="x"
    )
    services.credits.refund(jobs[0].job_id, "failed")
    fourth = services.credits.reserve(new_job(user, tier=Tier.FREE), now=now)
    assert fourth.cost == 2
    assert services.credits.balance(user) == 100 - 3 * 2


def test_refund_returns_the_charge_exactly_once(services: Services) -> None:
    user = new_user(services, credits=10)
    job = new_job(user, "colorize")
    services.credits.reserve(job)
    first = services.credits.refund(job.job_id, "model failed")
    second = services.credits.refund(job.job_id, "model failed")
    assert (first.amount, first.already_refunded) == (3, False)
    assert (second.amount, second.already_refunded) == (0, True)
    assert services.credits.balance(user) == 10
    assert services.jobs.get(job.job_id).refunded == 3
    assert ledger_kinds(services, job.job_id) == Counter({"reserve": 1, "refund": 1})


def test_completed_jobs_are_never_refunded(services: Services) -> None:
    user = new_user(services, credits=10)
    job = new_job(user)
    services.credits.reserve(job)
    services.jobs.complete(job.job_id, ResultKeys("i", "r", "t", "c", 10, 10))
    assert services.credits.refund(job.job_id, "late").amount == 0
    assert services.credits.balance(user) == 8


def test_refund_of_an_unknown_job_refunds_nothing(services: Services) -> None:
    assert services.credits.refund(uuid.uuid4().hex, "nothing").amount == 0


def test_grant_is_idempotent_per_key(services: Services) -> None:
    user = new_user(services, credits=0)
    services.credits.grant(user, 5, "promo", "promo-1")
    services.credits.grant(user, 5, "promo", "promo-1")
    assert services.credits.balance(user) == 5
    with pytest.raises(IdempotencyKeyReused):
        services.credits.grant(user, 7, "promo", "promo-1")
    with pytest.raises(InvalidRequest):
        services.credits.grant(user, 0, "nothing", "zero")
    assert services.credits.check_consistency() == []


def test_history_pages_newest_first(services: Services) -> None:
    user = new_user(services, credits=10)
    for i in range(4):
        services.credits.grant(user, 1, f"grant {i}", f"k{i}")
    first = services.credits.history(user, limit=3)
    assert [line.reason for line in first] == ["grant 3", "grant 2", "grant 1"]
    rest = services.credits.history(user, limit=3, before_id=first[-1].id)
    assert [line.reason for line in rest] == ["grant 0", "starting credits"]


def test_concurrent_submissions_never_overdraw(services: Services) -> None:
    """100 concurrent reservations with credits for exactly 8 jobs (under the paid tier's cap of
    jobs in progress): 8 charged, 92 refused."""
    user = new_user(services, credits=16)
    jobs = [new_job(user) for _ in range(100)]
    start = threading.Barrier(20)

    def attempt(job: NewJob) -> str:
        if jobs.index(job) < 20:
            start.wait()
        try:
            services.credits.reserve(job)
            return "accepted"
        except InsufficientCredits:
            return "refused"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = Counter(pool.map(attempt, jobs))
    assert outcomes == Counter({"accepted": 8, "refused": 92})
    assert services.credits.balance(user) == 0
    assert services.credits.check_consistency() == []
    with services.db.session() as session:
        assert session.exec(select(func.count()).where(Job.user_id == user)).one() == 8


operations = st.sampled_from(["reserve", "refund", "grant", "complete"])


# How many interleavings: the profile's (tests/conftest.py: 25, the same ones each CI run).
@hypothesis_settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(
        st.tuples(operations, st.integers(0, 4), st.integers(1, 3)), min_size=1, max_size=30
    ),
    start=st.integers(0, 8),
)
def test_any_interleaving_keeps_the_ledger_whole(
    services: Services, steps: list[tuple[str, int, int]], start: int
) -> None:
    """Reserve/refund/grant/complete in any order, each possibly repeated like a retry."""
    user = new_user(services, credits=start)
    jobs = [
        new_job(user, op)
        for op in ("restore", "colorize", "restore,colorize", "restore", "colorize")
    ]
    for action, index, repeats in steps:
        job = jobs[index]
        for _ in range(repeats):
            if action == "reserve":
                # A finished job's id is never reserved again (a second run is refused).
                with contextlib.suppress(InsufficientCredits, JobAlreadyFinished):
                    services.credits.reserve(job)
            elif action == "refund":
                services.credits.refund(job.job_id, "test")
            elif action == "grant":
                services.credits.grant(user, index + 1, "test", f"{index}-{repeats}")
            elif services.jobs.find(job.job_id) is not None:
                services.jobs.complete(job.job_id, ResultKeys("i", "r", "t", "c", 1, 1))
        assert services.credits.check_consistency([user]) == []
        assert services.credits.balance(user) >= 0
    for job in jobs:
        kinds = ledger_kinds(services, job.job_id)
        assert kinds["reserve"] <= 1
        assert kinds["refund"] <= 1
        row = services.jobs.find(job.job_id)
        if row is not None and row.status == "completed":
            assert kinds["refund"] == 0


def _cancelled_by_owner(services: Services, *, operations: str, progress: int | None) -> str:
    """A job its owner cancelled; `progress` is what the handler reported (None: no report)."""
    from heirloom.domain.jobs import Stage

    user = new_user(services, credits=20)
    job = new_job(user, operations)
    services.credits.reserve(job)
    if progress is not None:
        services.jobs.set_stage(job.job_id, Stage.PROCESSING, runpod_job_id="rp-" + job.job_id)
        services.jobs.set_progress(job.job_id, progress)
    services.credits.refund(job.job_id, "cancelled by user", owner_cancelled=True)
    return job.job_id


def test_an_owner_cancel_before_the_model_started_refunds_in_full(services: Services) -> None:
    # Submitted to RunPod but still in its queue: no GPU time used yet.
    job_id = _cancelled_by_owner(services, operations="restore,colorize", progress=15)
    assert ledger_rows(services, job_id) == [("refund", 4), ("reserve", -4)]
    assert services.jobs.get(job_id).refunded == 4


def test_an_owner_cancel_after_the_model_started_keeps_the_stated_part(
    services: Services,
) -> None:
    kept_percent = services.settings.prices.cancel_kept_percent
    assert kept_percent == 50
    job_id = _cancelled_by_owner(services, operations="restore,colorize", progress=40)
    assert ledger_rows(services, job_id) == [("refund", 2), ("reserve", -4)]
    job = services.jobs.get(job_id)
    assert job.refunded == 2
    assert services.credits.balance(job.user_id) == 18
    [refund] = [line for line in services.credits.history(job.user_id) if line.kind == "refund"]
    assert "after the model started: 2 kept" in refund.reason
    assert services.credits.check_consistency() == []
    # The kept part is rounded up: a 3-credit colorize keeps 2.
    odd = _cancelled_by_owner(services, operations="colorize", progress=40)
    assert ledger_rows(services, odd) == [("refund", 1), ("reserve", -3)]


def test_a_gpu_execution_on_record_counts_as_the_model_started(services: Services) -> None:
    from heirloom.services.runpod.runs import AttemptRecord

    user = new_user(services, credits=20)
    job = new_job(user)
    services.credits.reserve(job)
    services.model_runs.record_attempt(
        AttemptRecord(
            job_id=job.job_id,
            attempt=1,
            generation=0,
            runpod_job_id="rp-" + job.job_id,
            status="CANCELLED",
            execution_ms=1200,
            delay_ms=10,
        )
    )
    services.credits.refund(job.job_id, "cancelled by user", owner_cancelled=True)
    assert ledger_rows(services, job.job_id) == [("refund", 1), ("reserve", -2)]


def test_a_system_ending_after_the_model_started_refunds_in_full(services: Services) -> None:
    from heirloom.domain.jobs import Stage

    user = new_user(services, credits=20)
    job = new_job(user)
    services.credits.reserve(job)
    services.jobs.set_stage(job.job_id, Stage.PROCESSING, runpod_job_id="rp-" + job.job_id)
    services.jobs.set_progress(job.job_id, 60)
    services.credits.refund(job.job_id, "failed: model_failed")
    assert ledger_rows(services, job.job_id) == [("refund", 2), ("reserve", -2)]


def test_a_withdrawn_submission_is_never_charged(services: Services) -> None:
    from heirloom.domain.errors import ServiceUnavailable

    user = new_user(services, credits=20)
    job = dataclasses.replace(new_job(user), submission_id=uuid.uuid4().hex)
    assert job.submission_id is not None
    assert services.credits.withdraw(job.submission_id, job.job_id, user) is False
    with pytest.raises(ServiceUnavailable) as refused:
        services.credits.reserve(job)
    assert refused.value.retryable is False
    assert services.credits.balance(user) == 20
    assert ledger_kinds(services, job.job_id) == Counter()
    # A retry under the same key is a new submission of the same job: it is charged once.
    retry = dataclasses.replace(job, submission_id=uuid.uuid4().hex)
    assert services.credits.reserve(retry).balance == 18


def test_a_withdrawal_after_the_charge_says_so(services: Services) -> None:
    user = new_user(services, credits=20)
    job = dataclasses.replace(new_job(user), submission_id=uuid.uuid4().hex)
    assert job.submission_id is not None
    services.credits.reserve(job)
    assert services.credits.withdraw(job.submission_id, job.job_id, user) is True
    # Recording it twice is harmless.
    assert services.credits.withdraw(job.submission_id, job.job_id, user) is True


def test_a_withdrawal_racing_the_reservation_either_sees_the_charge_or_prevents_it(
    services: Services,
) -> None:
    from heirloom.domain.errors import ServiceUnavailable

    user = new_user(services, credits=200)
    for _ in range(20):
        job = dataclasses.replace(new_job(user), submission_id=uuid.uuid4().hex)
        assert job.submission_id is not None
        together = threading.Barrier(2)

        def reserve(job: NewJob = job, barrier: threading.Barrier = together) -> bool:
            barrier.wait()
            try:
                services.credits.reserve(job)
                return True
            except ServiceUnavailable:
                return False

        def withdraw(job: NewJob = job, barrier: threading.Barrier = together) -> bool:
            assert job.submission_id is not None
            barrier.wait()
            return services.credits.withdraw(job.submission_id, job.job_id, user)

        with ThreadPoolExecutor(max_workers=2) as pool:
            reserved, charged_first = pool.submit(reserve), pool.submit(withdraw)
            # A charge exists exactly when the withdrawal found it: none lands after it.
            assert reserved.result() == charged_first.result()
            assert ledger_kinds(services, job.job_id) == (
                Counter({"reserve": 1}) if reserved.result() else Counter()
            )
        if reserved.result():  # settled as the API does before its 503
            services.credits.refund(job.job_id, "withdrawn after the charge")
            services.jobs.finish_unsuccessfully(
                job.job_id, JobStatus.FAILED, code="interrupted", message="withdrawn"
            )
    assert services.credits.balance(user) == 200
