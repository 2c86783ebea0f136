"""The handler's input, output and run claim travel as the worker sets them up: presigned S3
URLs (moto server) or inline base64, through the local RunPod endpoint running the real handler."""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image
from temporalio.client import Client

from heirloom.config import Settings
from heirloom.db.models import Job
from heirloom.devstack.temporal_server import TemporalDevServer
from heirloom.domain.errors import ModelFailed
from heirloom.domain.messages import JobRef, ModelRequest
from heirloom.domain.tiers import Tier
from heirloom.services.jobs.settlement import remove_partial_outputs
from heirloom.services.runpod.client import RunPodJobState, RunPodService
from heirloom.services.runpod.transfer import ModelTransfer
from heirloom.services.storage.backend import make_storage
from heirloom.services.storage.keys import job_key, model_key
from heirloom.services.storage.local import LocalStorage
from heirloom.services.storage.s3 import S3Storage
from heirloom.starters.restoration import Submitter
from tests.conftest import CHAOS_NAMESPACE
from tests.harness.stack import local_endpoint, running_stack
from tests.harness.workers import WorkerThread
from tests.support import FINAL_STATUSES, photo_bytes, wait_until

API_KEY = "transfer-key"


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[RunPodService, httpx.Client]]:
    """The local endpoint running the real handler on two simulated GPUs."""
    settings = Settings(home=tmp_path / "endpoint", runpod_api_key=API_KEY)
    with local_endpoint(settings) as url, httpx.Client(base_url=url) as admin:
        runpod = RunPodService(
            api_key=API_KEY,
            endpoint_id=settings.runpod_endpoint_id,
            base_url=f"{url}/v2",
            request_timeout_s=10,
        )
        yield runpod, admin


def s3_storage(s3_endpoint: str) -> dict[str, Any]:
    """Settings fields for a bucket of its own on the moto server."""
    return {
        "storage_backend": "s3",
        "s3_endpoint_url": s3_endpoint,
        "s3_bucket": f"transfer-{uuid.uuid4().hex[:12]}",
    }


def s3_settings(s3_endpoint: str, tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(home=tmp_path, **s3_storage(s3_endpoint), **overrides)


def stored_input(storage: S3Storage | LocalStorage, data: bytes) -> ModelRequest:
    job = JobRef(job_id=uuid.uuid4().hex, user_id="u1", operations="restore")
    key = job_key(job.user_id, job.job_id, "input", "jpg")
    storage.put(key, data, content_type="image/jpeg")
    return ModelRequest(job=job, input_key=key)


def finished(runpod: RunPodService, job_id: str) -> RunPodJobState:
    def ended() -> RunPodJobState | None:
        state = runpod.status(job_id)
        return state if state.terminal else None

    return wait_until(ended, f"RunPod job {job_id} to end")


def test_a_large_input_travels_by_presigned_urls_and_runs_the_model_once(
    s3_endpoint: str,
    tmp_path: Path,
    endpoint: tuple[RunPodService, httpx.Client],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runpod, admin = endpoint
    settings = s3_settings(s3_endpoint, tmp_path, runpod_inline_max_bytes=4096)
    storage = make_storage(settings)
    assert isinstance(storage, S3Storage)
    storage.ensure_bucket()
    photo = photo_bytes(320, 240)
    assert len(photo) > settings.runpod_inline_max_bytes
    request = stored_input(storage, photo)
    handler_tmp = tmp_path / "handler-tmp"
    handler_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(handler_tmp))

    payload = ModelTransfer(storage, settings).payload(request, generation=0)
    first = runpod.submit(payload, execution_timeout_s=60, ttl_s=600)
    second = runpod.submit(payload, execution_timeout_s=60, ttl_s=600)
    states = {job_id: finished(runpod, job_id) for job_id in (first, second)}

    assert "image_base64" not in payload
    assert len(json.dumps(payload)) < settings.runpod_inline_max_bytes
    for url in (payload["image_url"], payload["output"]["put_url"], payload["claim"]["put_url"]):
        assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == [
            str(settings.runpod_transfer_url_expiry_s)
        ]
    outputs = {job_id: state.output or {} for job_id, state in states.items()}
    assert all(state.status == "COMPLETED" for state in states.values()), states
    # Whichever execution claimed first ran the model; the other points at it.
    runner = next(job_id for job_id, out in outputs.items() if "duplicate_of" not in out)
    duplicate = first if runner == second else second
    assert outputs[duplicate] == {"duplicate_of": runner}
    output_key = model_key("u1", request.job.job_id, 0)
    assert outputs[runner]["output_key"] == output_key
    assert "image_base64" not in outputs[runner]
    assert Image.open(io.BytesIO(storage.get(output_key))).size == (320, 240)
    stats = admin.get("/_admin/stats").json()
    assert stats["model_executions_by_ref"] == {request.job.job_id: 1}
    assert stats["submitted_by_ref"] == {request.job.job_id: 2}
    assert list(handler_tmp.iterdir()) == []


def test_a_new_generation_claims_afresh(
    s3_endpoint: str, tmp_path: Path, endpoint: tuple[RunPodService, httpx.Client]
) -> None:
    runpod, admin = endpoint
    settings = s3_settings(s3_endpoint, tmp_path)
    storage = make_storage(settings)
    assert isinstance(storage, S3Storage)
    storage.ensure_bucket()
    request = stored_input(storage, photo_bytes(64, 48))
    transfer = ModelTransfer(storage, settings)

    for generation in (0, 1):
        job_id = runpod.submit(
            transfer.payload(request, generation), execution_timeout_s=60, ttl_s=600
        )
        state = finished(runpod, job_id)
        assert state.status == "COMPLETED"
        assert state.output is not None
        assert "duplicate_of" not in state.output

    assert admin.get("/_admin/stats").json()["model_executions_by_ref"] == {request.job.job_id: 2}


def test_small_inputs_stay_inline_and_outputs_go_to_s3(s3_endpoint: str, tmp_path: Path) -> None:
    settings = s3_settings(s3_endpoint, tmp_path)
    storage = make_storage(settings)
    assert isinstance(storage, S3Storage)
    storage.ensure_bucket()
    request = stored_input(storage, photo_bytes(64, 48))

    payload = ModelTransfer(storage, settings).payload(request, generation=2)

    assert "image_base64" in payload
    assert "image_url" not in payload
    assert payload["output"]["key"] == model_key("u1", request.job.job_id, 2)
    assert "/claims/2.json" in payload["claim"]["put_url"]
    assert payload["claim"]["put_headers"]["If-None-Match"] == "*"


def test_a_late_upload_of_an_abandoned_generation_never_reaches_a_later_ones_output(
    s3_endpoint: str, tmp_path: Path
) -> None:
    settings = s3_settings(s3_endpoint, tmp_path)
    storage = make_storage(settings)
    assert isinstance(storage, S3Storage)
    storage.ensure_bucket()
    request = stored_input(storage, photo_bytes(64, 48))
    transfer = ModelTransfer(storage, settings)
    abandoned = transfer.payload(request, generation=0)["output"]
    current = transfer.payload(request, generation=1)["output"]

    put = httpx.put(current["put_url"], content=b"generation 1", headers=current["put_headers"])
    assert put.status_code == 200
    # The abandoned generation's handler finishes later and uploads through its own URL.
    late = httpx.put(
        abandoned["put_url"], content=b"generation 0", headers=abandoned["put_headers"]
    )
    assert late.status_code == 200

    assert (abandoned["key"], current["key"]) == (
        model_key("u1", request.job.job_id, 0),
        model_key("u1", request.job.job_id, 1),
    )
    assert storage.get(current["key"]) == b"generation 1"
    # Settling the job removes every generation's output, not only the last one's.
    remove_partial_outputs(storage, "u1", request.job.job_id)
    assert not storage.exists(abandoned["key"])
    assert not storage.exists(current["key"])


def test_local_storage_sends_the_photo_inline_and_the_claim_by_key(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    settings = Settings(home=tmp_path)
    request = stored_input(storage, photo_bytes(64, 48))

    payload = ModelTransfer(storage, settings).payload(request, generation=0)

    assert payload["claim"] == {"key": f"users/u1/jobs/{request.job.job_id}/claims/0.json"}
    assert "image_base64" in payload
    assert "output" not in payload


def test_an_input_above_the_inline_limit_without_s3_is_refused(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    settings = Settings(home=tmp_path, runpod_inline_max_bytes=1024)
    request = stored_input(storage, photo_bytes(320, 240))

    with pytest.raises(ModelFailed, match="above the inline limit"):
        ModelTransfer(storage, settings).payload(request, generation=0)


def test_a_job_on_s3_runs_end_to_end_with_its_images_through_presigned_urls(
    s3_endpoint: str, tmp_path: Path, temporal_server: TemporalDevServer
) -> None:
    with running_stack(
        tmp_path,
        f"sqlite:///{tmp_path / 'heirloom.db'}",
        temporal_server.address,
        CHAOS_NAMESPACE,
        runpod_key=API_KEY,
        worker=None,
        api=False,
        runpod_inline_max_bytes=4096,
        worker_tiers=[Tier.PAID],
        **s3_storage(s3_endpoint),
    ) as stack:
        settings, services = stack.settings, stack.services
        assert isinstance(services.storage, S3Storage)
        user = services.accounts.create(email="s3@example.com", tier=Tier.PAID, credits=10).user

        async def submit() -> str:
            client = await Client.connect(temporal_server.address, namespace=CHAOS_NAMESPACE)
            submission = await Submitter(services, client).submit(
                user, data=photo_bytes(640, 480), operations="restore", idempotency_key=None
            )
            return submission.job.id

        with WorkerThread(services):
            job_id = asyncio.run(submit())

            def ended() -> Job | None:
                row = services.jobs.get(job_id)
                return row if row.status in FINAL_STATUSES else None

            job = wait_until(ended, f"job {job_id} to finish")
        input_key = job_key(user.id, job_id, "input", "jpg")
        assert job.status == "completed", job.error_message
        assert services.storage.size(input_key) > settings.runpod_inline_max_bytes
        assert job.result_key is not None
        assert Image.open(io.BytesIO(services.storage.get(job.result_key))).size == (640, 480)
        claim = json.loads(services.storage.get(f"users/{user.id}/jobs/{job_id}/claims/0.json"))
        assert claim["runpod_job_id"] == job.runpod_job_id
        stats = httpx.get(f"{stack.runpod_url}/_admin/stats", timeout=10).json()
        assert stats["model_executions_by_ref"] == {job_id: 1}
        [attempt] = services.model_runs.attempts([job_id])
        assert (attempt.runpod_job_id, attempt.status, attempt.duplicate) == (
            job.runpod_job_id,
            "COMPLETED",
            False,
        )
