"""Guards for the known mutations of tests/mutations/catalogue.py that no other test caught.

Each test states the rule a one-line change would break: settlement removes an interrupted
job's files, one dead RunPod job opens one claim generation, erasure leaves nothing personal,
another user's share and delivery are out of reach. They run on the services directly (SQLite and
PostgreSQL), so each verdict is the rule's and not a race's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlmodel import col, select

from heirloom.db.models import JobEvent, Share, WebhookDelivery, WebhookEndpoint, utcnow
from heirloom.domain.errors import NotFound, TooManyActiveJobs
from heirloom.domain.jobs import JobStatus
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.money.credits import NewJob
from heirloom.services.privacy.erasure import user_prefix
from heirloom.services.storage.keys import claim_key, job_key, job_prefix, model_key
from tests.conftest import ServedApi
from tests.support import completed_job, failed_delivery


def _user(services: Services, credits: int = 20) -> str:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    return services.accounts.create(email=email, tier=Tier.PAID, credits=credits).user.id


def _reserved_job(services: Services, user_id: str) -> str:
    job_id = uuid.uuid4().hex
    original = job_key(user_id, job_id, "original", "jpg")
    services.storage.put(original, b"original", content_type="image/jpeg")
    services.credits.reserve(
        NewJob(
            job_id=job_id,
            user_id=user_id,
            operations="restore",
            tier=Tier.PAID,
            original_key=original,
        )
    )
    return job_id


def _files_under(services: Services, prefix: str, keys: list[str]) -> list[str]:
    return [key for key in keys if key.startswith(prefix) and services.storage.exists(key)]


def test_settling_an_interrupted_job_removes_its_partial_files(services: Services) -> None:
    user_id = _user(services)
    job_id = _reserved_job(services, user_id)
    partial = [
        claim_key(user_id, job_id, 0),
        model_key(user_id, job_id, 0),
        model_key(user_id, job_id, 1),
        job_key(user_id, job_id, "result", "jpg"),
        job_key(user_id, job_id, "thumbnail", "jpg"),
    ]
    for key in partial:
        services.storage.put(key, b"partial", content_type="application/octet-stream")

    settled = services.settlement.settle_interrupted(job_id, detail="the run was terminated")

    assert (settled.ended, settled.refunded) == (True, 2)
    assert [key for key in partial if services.storage.exists(key)] == []
    # The original stays: a retry of the failed job starts from it.
    assert services.storage.exists(job_key(user_id, job_id, "original", "jpg"))
    assert services.credits.balance(user_id) == 20


def test_two_attempts_that_saw_one_dead_run_open_one_generation(services: Services) -> None:
    user_id = _user(services)
    job_id = _reserved_job(services, user_id)
    services.model_runs.record_runpod_job(job_id, "rp-dead")

    first = services.model_runs.next_generation(job_id, "rp-dead")
    second = services.model_runs.next_generation(job_id, "rp-dead")

    assert (first, second) == (1, 1)
    assert services.model_runs.state(job_id).generation == 1


def test_erasure_leaves_no_file_and_no_personal_row(services: Services) -> None:
    user_id = _user(services)
    job_id = _reserved_job(services, user_id)
    export_zip = f"{user_prefix(user_id)}exports/{uuid.uuid4().hex}.zip"
    services.storage.put(export_zip, b"PK", content_type="application/zip")
    with services.db.session() as session:
        session.add(
            JobEvent(
                job_id=job_id,
                user_id=user_id,
                type="job.created",
                state=json.dumps({"status": "queued", "filename": "grandma.jpg"}),
            )
        )
        session.add(
            WebhookEndpoint(
                user_id=user_id,
                url="https://hooks.example.com/heirloom",
                events="job.completed",
                secret="whsec_" + uuid.uuid4().hex,
            )
        )

    # As the erasure workflow does: unfinished jobs settled, files, then records, then the log.
    services.settlement.settle_interrupted(job_id, detail="the account is being closed")
    services.erasure.delete_files(user_id)
    services.erasure.anonymise_records(user_id)
    services.erasure.log_erased(user_id)

    keys = [job_key(user_id, job_id, "original", "jpg"), export_zip]
    assert _files_under(services, user_prefix(user_id), keys) == []
    assert _files_under(services, job_prefix(user_id, job_id), keys) == []
    with services.db.session() as session:
        events = session.exec(select(JobEvent).where(col(JobEvent.user_id) == user_id)).all()
        endpoint = session.get(WebhookEndpoint, user_id)
    assert events == []
    assert endpoint is None


def test_another_users_share_and_delivery_are_out_of_reach(services: Services) -> None:
    owner = _user(services)
    stranger = _user(services)
    job_id = completed_job(services, owner, 100)
    job = services.jobs.get(job_id)
    assert job.status == JobStatus.COMPLETED
    share = services.shares.create(job, expires_in_s=3600, allow_download=False, now=utcnow()).share
    delivery_id = failed_delivery(services, owner, job_id)

    with pytest.raises(NotFound):
        services.shares.revoke(stranger, share.id, utcnow())
    with pytest.raises(NotFound):
        services.webhooks.redeliver(stranger, delivery_id)

    with services.db.session() as session:
        kept = session.get(Share, share.id)
        untouched = session.get(WebhookDelivery, delivery_id)
    assert kept is not None
    assert kept.revoked_at is None
    assert untouched is not None
    assert untouched.state == "failed"
    # The owner can do both.
    assert services.shares.revoke(owner, share.id, utcnow() + timedelta(seconds=1)).revoked_at
    assert services.webhooks.redeliver(owner, delivery_id).state == "pending"


@pytest.mark.parametrize("tier", [Tier.PAID, Tier.FOREVER])
def test_a_paying_tier_caps_the_jobs_it_has_in_progress(services: Services, tier: Tier) -> None:
    """A paying key cannot hold more jobs in progress than its rules say (the free tier's cap
    meets its daily limit, tested with it): the cap keeps one account from filling the GPU
    queue at once, credits or not."""
    cap = services.settings.tier_rules[tier].max_active_jobs
    assert cap is not None, f"the {tier} tier has no cap on jobs in progress"
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    user_id = services.accounts.create(email=email, tier=tier, credits=1000).user.id

    def reserve() -> None:
        job_id = uuid.uuid4().hex
        services.credits.reserve(
            NewJob(
                job_id=job_id,
                user_id=user_id,
                operations="restore",
                tier=tier,
                original_key=job_key(user_id, job_id, "original", "jpg"),
            )
        )

    for _ in range(cap):
        reserve()
    with pytest.raises(TooManyActiveJobs):
        reserve()


def test_a_share_link_past_the_longest_lifetime_is_refused(
    serve_api: Callable[..., ServedApi],
) -> None:
    api = serve_api(share_max_ttl_s=2 * 86400)
    user_id, key = api.new_user(tier=Tier.PAID)
    job = completed_job(api.services, user_id, 100)
    with api.client(key) as client:
        too_long = client.post(f"/v1/jobs/{job}/shares", json={"expires_in": 2 * 86400 + 1})
        longest = client.post(f"/v1/jobs/{job}/shares", json={"expires_in": 2 * 86400})
    assert too_long.status_code == 400, too_long.text
    assert too_long.json()["error"]["code"] == "invalid_request"
    assert "at most 2 days" in too_long.json()["error"]["message"]
    assert longest.status_code == 201, longest.text
