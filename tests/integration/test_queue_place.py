"""A waiting job's queue position, counted by the database, is the dispatch model's."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from heirloom.db.models import Job, as_utc
from heirloom.domain.gpu_queue import Waiting, position_in_queue
from heirloom.domain.jobs import JobStatus, Stage
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def add_job(
    services: Services, user_id: str, priority: int, stage: Stage, status: JobStatus, at: int
) -> str:
    """A job row as the worker leaves it, changed `at` seconds after NOW (ties on purpose)."""
    job_id = uuid.uuid4().hex
    with services.db.session() as session:
        session.add(
            Job(
                id=job_id,
                user_id=user_id,
                operations="restore",
                tier=Tier.PAID.value,
                status=status.value,
                stage=stage.value,
                cost=0,
                original_key=f"users/{user_id}/jobs/{job_id}/original.jpg",
                gpu_priority=priority,
                created_at=NOW,
                updated_at=NOW + timedelta(seconds=at),
            )
        )
    return job_id


def test_queue_position_counts_what_the_dispatch_model_puts_first(services: Services) -> None:
    rng = random.Random(7)
    users = [
        services.accounts.create(email=f"q{i}@example.com", tier=Tier.PAID, credits=500).user.id
        for i in range(5)
    ]
    waiting: list[str] = []
    for _ in range(60):
        # Most wait; the rest are on a GPU, not yet waiting, or ended while marked waiting.
        stage, status = rng.choice(
            [(Stage.WAITING_FOR_GPU, JobStatus.RUNNING)] * 6
            + [
                (Stage.PROCESSING, JobStatus.RUNNING),
                (Stage.QUEUED, JobStatus.QUEUED),
                (Stage.WAITING_FOR_GPU, JobStatus.CANCELLED),
            ]
        )
        priority = rng.choice([1, 2, 2, 4, 4, 4])
        job_id = add_job(services, rng.choice(users), priority, stage, status, rng.randrange(20))
        if status == JobStatus.RUNNING and stage == Stage.WAITING_FOR_GPU:
            waiting.append(job_id)
    jobs = [services.jobs.get(job_id) for job_id in waiting]
    model = [
        Waiting(job.id, job.user_id, job.gpu_priority, as_utc(job.updated_at).timestamp())
        for job in jobs
    ]
    for job, me in zip(jobs, model, strict=True):
        place = services.gpu_queue.place(job, NOW)
        assert place is not None
        assert place.position == position_in_queue(me, model), job.id


def test_a_job_off_the_queue_has_no_place(services: Services) -> None:
    user = services.accounts.create(email="off@example.com", tier=Tier.PAID, credits=10).user.id
    job_id = add_job(services, user, 2, Stage.PROCESSING, JobStatus.RUNNING, at=0)
    assert services.gpu_queue.place(services.jobs.get(job_id), NOW) is None
