"""Seeds per job on the real stack: a retry repeats the original's seed, a new-seed retry not."""

from __future__ import annotations

import asyncio

import httpx
from temporalio.client import Client

from heirloom.domain.messages import RestorationInput
from heirloom.domain.seeds import job_seed
from heirloom.domain.tiers import Tier
from tests.conftest import Stack
from tests.support import photo_bytes, submit, wait_final


def started_with(stack: Stack, job_id: str) -> RestorationInput:
    """The input the job's workflow was started with, read from its Temporal history."""

    async def read() -> RestorationInput:
        client = await Client.connect(
            stack.settings.temporal_address, namespace=stack.settings.temporal_namespace
        )
        history = await client.get_workflow_handle(job_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        [job] = client.data_converter.payload_converter.from_payloads(
            list(started.input.payloads), [RestorationInput]
        )
        assert isinstance(job, RestorationInput)
        return job

    return asyncio.run(read())


def retry(client: httpx.Client, job_id: str, **body: bool) -> str:
    response = client.post(f"/v1/jobs/{job_id}/retry", json=body or None)
    assert response.status_code == 202, response.text
    new_id: str = response.json()["id"]
    return new_id


def test_plain_retries_keep_the_seed_and_a_new_seed_retry_draws_another(faults: Stack) -> None:
    stack = faults
    stack.set_faults(failed=1.0)
    _, key = stack.new_user(tier=Tier.PAID, credits=10)
    with stack.client(key) as client:
        first = submit(client, photo_bytes()).json()["id"]
        assert wait_final(client, first)["status"] == "failed"
        second = retry(client, first)
        assert wait_final(client, second)["status"] == "failed"
        third = retry(client, second)
        reseeded = retry(client, first, new_seed=True)
        assert wait_final(client, reseeded)["status"] == "failed"
        reseeded_again = retry(client, reseeded)
        stack.set_faults()
        for job_id in (third, reseeded_again):
            wait_final(client, job_id)
        # The same request again is the same retry, not a new job.
        assert retry(client, first, new_seed=True) == reseeded

    seeds = {job_id: started_with(stack, job_id).seed for job_id in (first, second, third)}
    assert seeds == dict.fromkeys((first, second, third), job_seed(first))
    assert started_with(stack, reseeded).seed == job_seed(reseeded)
    assert job_seed(reseeded) != job_seed(first)
    assert started_with(stack, reseeded_again).seed == job_seed(reseeded)


def test_a_completed_job_can_be_retried_only_with_a_new_seed(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=10)
    with stack.client(key) as client:
        done = submit(client, photo_bytes()).json()["id"]
        assert wait_final(client, done)["status"] == "completed"
        refused = client.post(f"/v1/jobs/{done}/retry", json={"new_seed": False})
        assert refused.status_code == 409
        assert client.post(f"/v1/jobs/{done}/retry").status_code == 409
        again = retry(client, done, new_seed=True)
        assert wait_final(client, again)["status"] == "completed"
    assert started_with(stack, again).seed == job_seed(again) != job_seed(done)
