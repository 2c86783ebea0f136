"""Retention on the services alone, with the clock passed in: what is due, what an upgrade or a
downgrade changes, and a pass stopped between marking and deleting."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from heirloom.db.models import Job, as_utc
from heirloom.domain.jobs import JobStatus
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.jobs.store import ResultKeys
from heirloom.services.storage.keys import job_key

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def ended_job(services: Services, user_id: str, tier: Tier, status: JobStatus) -> Job:
    """A job that ended at NOW with its original and result stored."""
    job_id = uuid.uuid4().hex
    original = job_key(user_id, job_id, "original", "jpg")
    result = job_key(user_id, job_id, "result", "jpg")
    for key in (original, result):
        services.storage.put(key, b"bytes", content_type="image/jpeg")
    job = Job(
        id=job_id,
        user_id=user_id,
        operations="restore",
        tier=tier.value,
        status=status.value,
        stage="done",
        cost=2,
        original_key=original,
        result_key=result if status is JobStatus.COMPLETED else None,
        finished_at=NOW,
        stored_bytes=10,
    )
    with services.db.session() as session:
        session.add(job)
    services.retention.stamp_expiry(job_id)
    return services.jobs.get(job_id)


def new_user(services: Services, tier: Tier) -> str:
    return services.accounts.create(email=f"{uuid.uuid4().hex[:8]}@example.com", tier=tier).user.id


def test_free_jobs_expire_after_their_storage_days_and_paid_ones_never(
    services: Services,
) -> None:
    free, paid = new_user(services, Tier.FREE), new_user(services, Tier.PAID)
    done = ended_job(services, free, Tier.FREE, JobStatus.COMPLETED)
    failed = ended_job(services, free, Tier.FREE, JobStatus.FAILED)
    kept = ended_job(services, paid, Tier.PAID, JobStatus.COMPLETED)
    assert done.expires_at is not None
    assert done.expires_at.replace(tzinfo=UTC) == NOW + timedelta(days=7)
    assert kept.expires_at is None

    assert services.retention.expire_due(NOW + timedelta(days=6, hours=23), limit=10) == 0
    assert services.retention.expire_due(NOW + timedelta(days=7), limit=1) == 1
    assert services.retention.expire_due(NOW + timedelta(days=7), limit=1) == 1
    assert services.retention.expire_due(NOW + timedelta(days=7), limit=1) == 0
    for job in (done, failed):
        assert services.jobs.get(job.id).status == JobStatus.EXPIRED
        assert not services.storage.exists(job.original_key)
    assert services.jobs.get(kept.id).status == JobStatus.COMPLETED
    assert services.storage.exists(kept.original_key)
    assert services.retention.usage(free, Tier.FREE).results_kept == 0
    assert services.retention.usage(paid, Tier.PAID).bytes_used == 10


def test_an_upgrade_lifts_expiry_and_a_downgrade_shortens_nothing(services: Services) -> None:
    user = new_user(services, Tier.FREE)
    free_job = ended_job(services, user, Tier.FREE, JobStatus.COMPLETED)
    services.accounts.set_tier(user, Tier.PAID)
    assert services.retention.on_tier_change(user, Tier.PAID) == 1
    assert services.jobs.get(free_job.id).expires_at is None
    paid_job = ended_job(services, user, Tier.PAID, JobStatus.COMPLETED)

    services.accounts.set_tier(user, Tier.FREE)
    assert services.retention.on_tier_change(user, Tier.FREE) == 0
    assert services.jobs.get(paid_job.id).expires_at is None
    later = ended_job(services, user, Tier.FREE, JobStatus.COMPLETED)
    assert later.expires_at is not None
    assert services.retention.expire_due(NOW + timedelta(days=30), limit=10) == 1
    assert services.storage.exists(free_job.original_key)
    assert services.storage.exists(paid_job.original_key)
    assert not services.storage.exists(later.original_key)


def test_a_pass_stopped_after_marking_is_finished_by_the_next(services: Services) -> None:
    user = new_user(services, Tier.FREE)
    job = ended_job(services, user, Tier.FREE, JobStatus.COMPLETED)
    with services.db.session() as session:  # what a pass leaves when it dies mid-job
        row = session.get(Job, job.id)
        assert row is not None
        row.status = JobStatus.EXPIRED.value
        session.add(row)
    assert services.storage.exists(job.original_key)
    assert services.retention.expire_due(NOW, limit=10) == 1
    assert not services.storage.exists(job.original_key)
    assert services.retention.expire_due(NOW, limit=10) == 0


def test_an_ending_stamps_expiry_in_its_own_write_and_a_repeat_changes_nothing(
    services: Services,
) -> None:
    """The ending says whether it ended the job: only a repeat falls back to `stamp_expiry`."""
    user = new_user(services, Tier.FREE)
    job_id = uuid.uuid4().hex
    with services.db.session() as session:
        session.add(
            Job(
                id=job_id,
                user_id=user,
                operations="restore",
                tier=Tier.FREE.value,
                status=JobStatus.RUNNING.value,
                stage="postprocessing",
                cost=1,
                original_key=job_key(user, job_id, "original", "jpg"),
            )
        )
    keys = ResultKeys(
        input_key="in",
        result_key="out",
        thumbnail_key="thumb",
        comparison_key="compare",
        width=10,
        height=10,
        stored_bytes=3,
    )
    assert services.jobs.complete(job_id, keys, keep_days=7) is True
    first = services.jobs.get(job_id)
    assert first.status == JobStatus.COMPLETED
    assert first.expires_at is not None
    assert first.finished_at is not None
    assert as_utc(first.expires_at) == as_utc(first.finished_at) + timedelta(days=7)

    assert services.jobs.complete(job_id, keys, keep_days=30) is False
    assert (
        services.jobs.finish_unsuccessfully(
            job_id, JobStatus.FAILED, code="late", message="late", keep_days=30
        )
        is False
    )
    again = services.jobs.get(job_id)
    assert (again.status, again.expires_at, again.stored_bytes) == (
        JobStatus.COMPLETED,
        first.expires_at,
        first.stored_bytes,
    )
