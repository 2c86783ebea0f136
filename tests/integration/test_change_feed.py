"""The change feed on a real database: one event per applied change, fan-out per process."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import col

from heirloom.db.models import Job, JobEvent, WebhookEndpoint, utcnow
from heirloom.domain.jobs import JobStatus, Stage
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.events.event_log import Event, job_state
from heirloom.services.events.feed import ChangeFeed
from heirloom.services.jobs.store import ResultKeys
from heirloom.services.money.credits import NewJob


def _reserved_job(services: Services) -> tuple[str, str]:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    user_id = services.accounts.create(email=email, tier=Tier.PAID, credits=20).user.id
    job_id = uuid.uuid4().hex
    services.credits.reserve(
        NewJob(
            job_id=job_id,
            user_id=user_id,
            operations="restore",
            tier=Tier.PAID,
            original_key=f"originals/{job_id}.jpg",
            idempotency_key=None,
            request_hash=None,
            retry_of=None,
        )
    )
    return user_id, job_id


def test_each_applied_change_is_one_event_and_progress_never_goes_back(
    services: Services,
) -> None:
    _, job_id = _reserved_job(services)
    jobs = services.jobs
    jobs.set_stage(job_id, Stage.PREPARING)
    jobs.set_stage(job_id, Stage.PROCESSING, runpod_job_id="rp-1")
    jobs.set_progress(job_id, 50)
    jobs.set_progress(job_id, 40)  # a late report: no change, no event
    jobs.set_stage(job_id, Stage.PROCESSING, runpod_job_id="rp-2")  # a retried attempt
    jobs.complete(job_id, ResultKeys("in", "res", "thumb", "cmp", 10, 10))
    jobs.set_progress(job_id, 99)  # the job has ended: nothing changes
    events = services.events.for_job(job_id, 0)
    assert [e.type for e in events] == [
        "job.queued",
        "job.started",
        "job.updated",
        "job.updated",
        "job.updated",
        "job.completed",
    ]
    assert [e.state["progress"] for e in events] == [0, 5, 15, 50, 50, 100]
    assert events[-1].state["result_url"] == f"/v1/jobs/{job_id}/result"
    assert services.jobs.get(job_id).progress == 100


def test_each_event_records_the_job_as_its_stream_shows_it(services: Services) -> None:
    """The job's own write records its state (migration 0019's SQL): the same fields and
    values as job_state, in its compact form (queue positions match its text)."""
    jobs = services.jobs

    def recorded_as_shown(job_id: str) -> str:
        latest = services.events.latest_of_job(job_id)
        assert latest is not None
        assert latest.state == job_state(jobs.get(job_id))
        with services.db.session() as session:
            row = session.get(JobEvent, latest.id)
            assert row is not None
            return row.state

    _, done = _reserved_job(services)
    assert '"stage":"queued"' in recorded_as_shown(done)
    jobs.set_stage(done, Stage.WAITING_FOR_GPU, metadata={"black_and_white": True})
    assert '"stage":"waiting_for_gpu"' in recorded_as_shown(done)
    quality = {"verdict": "kept", "tries": [{"score": 0.93, "note": None}], "name": 'Zoë "q"'}
    jobs.complete(done, ResultKeys("in", "res", "thumb", "cmp", 10, 10), quality=quality)
    assert '"status":"completed"' in recorded_as_shown(done)

    _, failed = _reserved_job(services)
    services.credits.refund(failed, "model failed")
    recorded_as_shown(failed)
    jobs.finish_unsuccessfully(
        failed, JobStatus.FAILED, code="model_failed", message='The model said "no" (café).'
    )
    recorded_as_shown(failed)
    # A finish on a whole second: isoformat leaves the microseconds out.
    whole_second = datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC)
    with services.db.session() as session:
        session.execute(
            sa.update(Job)
            .where(col(Job.id) == failed)
            .values(finished_at=whole_second, last_event="job.failed")
        )
    assert '"finished_at":"2026-12-07T10:00:00+00:00"' in recorded_as_shown(failed)


def test_a_change_owes_its_event_to_its_owners_webhook_only(services: Services) -> None:
    """The write's RETURNING looks up the owner's webhook: never another user's endpoint."""
    owners = [_reserved_job(services) for _ in range(2)]
    with services.db.session() as session:
        for n, (user_id, _) in enumerate(owners):
            session.add(
                WebhookEndpoint(
                    user_id=user_id,
                    url=f"https://hooks{n}.example.com/in",
                    events="job.started,job.completed",
                    secret=f"whsec_{n}",
                )
            )
    user_id, job_id = owners[1]
    services.jobs.set_stage(job_id, Stage.PREPARING)
    services.jobs.complete(job_id, ResultKeys("in", "res", "thumb", "cmp", 10, 10))
    owed = services.webhooks.deliveries(user_id, limit=10, before_id=None)
    assert sorted((d.type, d.url) for d in owed) == [
        ("job.completed", "https://hooks1.example.com/in"),
        ("job.started", "https://hooks1.example.com/in"),
    ]
    events = {e.id: e.type for e in services.events.for_job(job_id, 0)}
    assert {events[d.event_id] for d in owed} == {"job.started", "job.completed"}
    assert services.webhooks.deliveries(owners[0][0], limit=10, before_id=None) == []


def test_refund_is_an_event_and_the_failure_after_it_ends_the_history(
    services: Services,
) -> None:
    _, job_id = _reserved_job(services)
    services.credits.refund(job_id, "model failed")
    services.credits.refund(job_id, "model failed")  # settled once: no second event
    services.jobs.finish_unsuccessfully(
        job_id, JobStatus.FAILED, code="model_failed", message="The model failed."
    )
    events = services.events.for_job(job_id, 0)
    assert [e.type for e in events] == ["job.queued", "job.refunded", "job.failed"]
    assert events[-1].final
    assert events[-1].state["error"] == {"code": "model_failed", "message": "The model failed."}
    assert events[-1].state["credits_refunded"] > 0


def test_two_api_processes_each_fan_out_every_change_with_one_read_per_interval(
    services: Services,
) -> None:
    user_id, job_id = _reserved_job(services)

    async def scenario() -> tuple[list[list[str]], list[int]]:
        feeds = [ChangeFeed(services.events, interval_s=0.05, min_gap_s=0.01) for _ in range(2)]
        for feed in feeds:
            await feed.start()
        # Many streams on one feed, one on the other: each process reads the table alone.
        followers = [feeds[0].follow(user_id, services.jobs.get(job_id)) for _ in range(50)]
        followers.append(feeds[1].follow(user_id, services.jobs.get(job_id)))
        snapshots = [await anext(f) for f in followers]
        assert {s.type for s in snapshots} == {"snapshot"}
        before = [feed.queries for feed in feeds]

        async def rest(follower: object) -> list[str]:
            return [event.type async for event in follower]  # type: ignore[attr-defined]

        tasks = [asyncio.create_task(rest(f)) for f in followers]
        await asyncio.to_thread(services.jobs.set_stage, job_id, Stage.PREPARING)
        await asyncio.to_thread(
            services.jobs.finish_unsuccessfully,
            job_id,
            JobStatus.CANCELLED,
            code="cancelled",
            message="Cancelled.",
        )
        async with asyncio.timeout(60):
            seen = await asyncio.gather(*tasks)
        reads = [feed.queries - b for feed, b in zip(feeds, before, strict=True)]
        # The fifty streams share their process's reads: over the same moments, the feed they
        # wait on reads about as often as the feed with one stream, not fifty times as often.
        assert reads[0] <= 2 * reads[1] + 2, reads
        for feed in feeds:
            assert feed.streams == 0
            await feed.stop()
        return seen, reads

    seen, reads = asyncio.run(scenario())
    assert all(types == ["job.started", "job.cancelled"] for types in seen)
    assert min(reads) >= 1


# LISTEN/NOTIFY is PostgreSQL's (SQLite reads at the interval): this one runs there only.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_notify_wakes_the_feed_without_waiting_for_the_interval(
    services: Services,
) -> None:
    assert services.db.engine.dialect.name == "postgresql"
    user_id, job_id = _reserved_job(services)

    async def scenario() -> list[str]:
        # An interval far beyond the deadline: only the notification can deliver in time.
        feed = ChangeFeed(services.events, interval_s=3600, min_gap_s=0)
        await feed.start()
        try:
            follower = feed.follow(user_id, services.jobs.get(job_id))
            assert (await anext(follower)).type == "snapshot"
            await asyncio.to_thread(
                services.jobs.finish_unsuccessfully,
                job_id,
                JobStatus.CANCELLED,
                code="cancelled",
                message="Cancelled.",
            )
            async with asyncio.timeout(60):
                return [event.type async for event in follower]
        finally:
            await feed.stop()

    assert asyncio.run(scenario()) == ["job.cancelled"]


def test_prune_removes_only_events_before_the_cutoff_a_batch_at_a_time(
    services: Services,
) -> None:
    _, old_job = _reserved_job(services)
    services.jobs.set_stage(old_job, Stage.PREPARING)
    cutoff = utcnow()
    _, new_job = _reserved_job(services)
    assert services.events.prune(cutoff, batch=1) == 1
    assert services.events.prune(cutoff, batch=5) == 1
    assert services.events.prune(cutoff) == 0
    assert services.events.for_job(old_job, 0) == []
    assert [e.type for e in services.events.for_job(new_job, 0)] == ["job.queued"]


def test_a_resumed_job_stream_ends_on_the_final_event_not_on_a_final_row(
    services: Services,
) -> None:
    """A reader may see the job's row ended a moment before it reads the final event (a
    loaded run's per-job stream ended without its job.completed). Here the row says cancelled
    with no event at all: the resumed stream waits, and the final event ends it."""
    user_id, job_id = _reserved_job(services)
    services.jobs.set_stage(job_id, Stage.PREPARING)
    last = services.events.latest_of_job(job_id)
    assert last is not None
    assert not last.final
    with services.db.session() as session:
        session.execute(
            sa.update(Job)
            .where(col(Job.id) == job_id)
            .values(status=JobStatus.CANCELLED.value, stage=Stage.DONE.value)
        )

    async def scenario() -> Event:
        feed = ChangeFeed(services.events, interval_s=0.05, min_gap_s=0.01)
        await feed.start()
        try:
            stream = feed.follow(user_id, services.jobs.get(job_id), after_id=last.id)
            first = asyncio.ensure_future(anext(stream))
            # Past the resume check and several feed reads, the stream is still open.
            reads = feed.queries
            while feed.queries < reads + 5:
                assert not first.done(), "the stream ended without a final event"
                await asyncio.sleep(0.01)
            assert not first.done(), "the stream ended without a final event"
            with services.db.session() as session:
                # A write that names its event records the row's final state: job.cancelled.
                session.execute(
                    sa.update(Job).where(col(Job.id) == job_id).values(last_event="job.cancelled")
                )
            async with asyncio.timeout(60):
                return await first
        finally:
            await feed.stop()

    event = asyncio.run(scenario())
    assert (event.type, event.final) == ("job.cancelled", True)
