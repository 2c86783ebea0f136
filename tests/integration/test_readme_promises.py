"""What README.md and docs/api.md promise, checked on the running stack (dev server, HTTP, the
worker)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from temporalio.client import Client, WorkflowExecutionDescription

from heirloom.api.app import create_app
from heirloom.cli import main as heirloom
from heirloom.config import Settings
from heirloom.domain.gpu_queue import RETRY_PRIORITY
from heirloom.domain.tiers import Tier
from heirloom.temporal import search_attributes
from tests.conftest import Stack
from tests.support import (
    fitted,
    has_image_bytes,
    payloads_in,
    photo_bytes,
    submit,
    temporal_call,
    wait_final,
    wait_until,
)

API_DOC = Path(__file__).parents[2] / "docs" / "api.md"
SMALL_PHOTO = photo_bytes(320, 160)


def describe(stack: Stack, job_id: str) -> WorkflowExecutionDescription:
    async def call(client: Client) -> WorkflowExecutionDescription:
        return await client.get_workflow_handle(job_id).describe()

    return temporal_call(stack.settings, call)


def test_jobs_are_listed_newest_first_and_paged_with_limit_and_offset(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client:
        submitted = []
        for seed in range(3):
            response = submit(client, photo_bytes(320, 160, seed=seed))
            assert response.status_code == 202, response.text
            submitted.append(response.json()["id"])
        newest_first = list(reversed(submitted))
        first = client.get("/v1/jobs", params={"limit": 2}).json()
        second = client.get("/v1/jobs", params={"limit": 2, "offset": 2}).json()
        assert [job["id"] for job in first["jobs"]] == newest_first[:2]
        assert (first["limit"], first["offset"]) == (2, 0)
        assert [job["id"] for job in second["jobs"]] == newest_first[2:]
        assert (second["limit"], second["offset"]) == (2, 2)
        for job_id in submitted:
            wait_final(client, job_id)


def test_a_running_job_reports_its_stage_and_growing_progress(faults: Stack) -> None:
    stack = faults
    stack.set_faults(execution_ms=4_000)
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client:
        job_id = submit(client, SMALL_PHOTO).json()["id"]

        def processing() -> dict[str, Any] | None:
            job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
            return job if job["stage"] == "processing" else None

        first = wait_until(processing, "the job reaches the model step")
        assert first["status"] == "running"
        assert 15 <= first["progress"] < 85

        def further() -> dict[str, Any] | None:
            job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
            assert job["stage"] == "processing", f"the model step ended at {first['progress']}%"
            return job if job["progress"] > first["progress"] else None

        later = wait_until(further, "progress moves during the model call")
        assert later["status"] == "running"
        assert later["progress"] < 85
        done = wait_final(client, job_id)
        assert (done["status"], done["stage"], done["progress"]) == ("completed", "done", 100)


def test_search_attributes_name_the_user_tier_and_follow_the_status(faults: Stack) -> None:
    stack = faults
    stack.set_faults(execution_ms=3_000)
    user_id, key = stack.new_user(tier=Tier.FOREVER, credits=20)
    with stack.client(key) as client:
        job_id = submit(client, SMALL_PHOTO).json()["id"]

        def status_attribute() -> str | None:
            attributes = describe(stack, job_id).typed_search_attributes
            status = attributes.get(search_attributes.JOB_STATUS)
            return status if status != "queued" else None

        assert wait_until(status_attribute, "the status attribute moves on") == "running"
        assert wait_final(client, job_id)["status"] == "completed"
    attributes = describe(stack, job_id).typed_search_attributes
    assert attributes.get(search_attributes.USER_ID) == user_id
    assert attributes.get(search_attributes.TIER) == "forever"
    assert attributes.get(search_attributes.JOB_STATUS) == "completed"

    async def by_user(client: Client) -> list[str]:
        query = f'HeirloomUserId = "{user_id}"'
        return [execution.id async for execution in client.list_workflows(query)]

    # Visibility is eventually consistent: poll for the README's filter to find the job.
    assert wait_until(
        lambda: temporal_call(stack.settings, by_user) or None, "the filter finds the job"
    ) == [job_id]


def test_a_retry_runs_at_the_highest_task_priority(faults: Stack) -> None:
    stack = faults
    stack.set_faults(failed=1.0)
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client:
        job_id = submit(client, SMALL_PHOTO).json()["id"]
        assert wait_final(client, job_id)["status"] == "failed"
        stack.set_faults()
        retry = client.post(f"/v1/jobs/{job_id}/retry")
        assert retry.status_code == 202, retry.text
        retry_id = retry.json()["id"]
        assert wait_final(client, retry_id)["status"] == "completed"
    first = describe(stack, job_id).raw_description.workflow_execution_info.priority
    again = describe(stack, retry_id).raw_description.workflow_execution_info.priority
    assert first.priority_key == 0  # unset: the server's default, below any retry
    assert again.priority_key == RETRY_PRIORITY == 1  # 1 is Temporal's highest


def test_a_new_seed_retry_of_a_completed_job_waits_its_turn(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client:
        job_id = submit(client, SMALL_PHOTO).json()["id"]
        assert wait_final(client, job_id)["status"] == "completed"
        retry = client.post(f"/v1/jobs/{job_id}/retry", json={"new_seed": True})
        assert retry.status_code == 202, retry.text
        retry_id = retry.json()["id"]
        assert wait_final(client, retry_id)["status"] == "completed"
    again = describe(stack, retry_id).raw_description.workflow_execution_info.priority
    assert again.priority_key == 0  # the server's default: no retry priority
    row = stack.services.jobs.get(retry_id)
    assert row.gpu_priority == stack.settings.tier_rules[Tier.PAID].gpu_priority


def test_a_model_that_times_out_at_runpod_ends_model_timed_out_and_refunded(
    faults: Stack,
) -> None:
    stack = faults
    stack.set_faults(timeout=1.0)
    user_id, key = stack.new_user(tier=Tier.FREE, credits=20)
    with stack.client(key) as client:
        job_id = submit(client, SMALL_PHOTO).json()["id"]
        done = wait_final(client, job_id)
        assert (done["status"], done["error"]["code"]) == ("failed", "model_timed_out")
        assert "refunded" in done["error"]["message"]
        assert done["credits_refunded"] == 2
        assert client.get("/v1/me").json()["balance"] == 20
    assert stack.services.storage.exists(f"users/{user_id}/jobs/{job_id}/input.jpg") is False


def test_no_image_bytes_travel_in_a_finished_jobs_temporal_history(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client:
        job_id = submit(client, photo_bytes(800, 600)).json()["id"]
        assert wait_final(client, job_id)["status"] == "completed"

    async def payload_sizes(client: Client) -> list[int]:
        sizes = []
        async for event in client.get_workflow_handle(job_id).fetch_history_events():
            for payload in payloads_in(event):
                assert not has_image_bytes(payload.data), event.event_type
                sizes.append(len(payload.data))
        return sizes

    sizes = temporal_call(stack.settings, payload_sizes)
    assert sizes
    assert max(sizes) < 4096  # storage keys and small dataclasses; the photo is ~100 KB


def test_heirloom_submit_waits_shows_progress_and_saves_the_result(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, key = stack.new_user(tier=Tier.FREE, credits=20)
    photo = tmp_path / "old-photo.jpg"
    photo.write_bytes(photo_bytes(1708, 854))
    out = tmp_path / "restored.jpg"
    common = ["--api-url", stack.api_url, "--api-key", key]
    code = heirloom(
        ["submit", str(photo), "--operations", "restore", "--wait", "--out", str(out), *common]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert re.search(r"job \w+: (queued|running), charged 2 credits", printed.out)
    assert "100%" in printed.err  # the progress bar reached the end
    assert f"saved {out}" in printed.out
    result = Image.open(out)
    assert (result.format, result.size) == (
        "JPEG",
        fitted((1708, 854), stack.settings.tier_rules[Tier.FREE].output_long_side),
    )

    # Without --wait it answers at once with the job id and its charge.
    assert heirloom(["submit", str(photo), *common]) == 0
    quick = capsys.readouterr()
    assert re.search(r"job \w+: (queued|running), charged 2 credits", quick.out)
    assert "%" not in quick.err  # no progress bar: it did not wait


def test_every_route_the_api_doc_names_is_in_the_openapi_document(tmp_path: Path) -> None:
    routes = api_doc_routes(API_DOC.read_text())
    assert len(routes) >= 12, routes  # the table was found and read
    app = create_app(Settings(home=tmp_path))
    documented = {
        (method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    missing = sorted(route for route in routes if route not in documented)
    assert missing == [], f"docs/api.md names routes the API does not have: {missing}"


def api_doc_routes(text: str) -> set[tuple[str, str]]:
    """(METHOD, path) for each route in docs/api.md's table; `{id}`-style names become `{}`."""
    routes = set()
    for line in text.splitlines():
        cell = line.split("|")[1] if line.startswith("| `") else ""
        found = re.findall(r"`(?:(GET|POST|PUT|PATCH|DELETE) )?(/[^`]*)`", cell)
        method = ""
        base = ""
        for verb, path in found:
            if verb:
                method, base = verb, path
                full = path
            elif method:  # "`GET /v1/jobs/{id}/result`, `/thumbnail`": a sibling of the last
                full = base.rsplit("/", 1)[0] + path
            else:  # a file path or a name in another table, not a route
                continue
            routes.add((method, re.sub(r"\{[^}]+\}", "{}", full)))
    return routes
