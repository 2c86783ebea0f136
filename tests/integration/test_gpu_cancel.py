"""Cancel stops the GPU work and leaves nothing in storage, with the local endpoint behaving
like RunPod: /cancel marks the job CANCELLED and does not interrupt the handler, so the
handler's own cancel check (its claim, withdrawn by the backend) is what stops the work."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from heirloom.config import Settings
from heirloom.domain.messages import JobRef, ModelRequest
from heirloom.domain.tiers import Tier
from heirloom.gpu_handler import handler as handler_module
from heirloom.gpu_handler.engines import CpuEngine
from heirloom.gpu_handler.handler import run_job
from heirloom.gpu_handler.progress import ModelStage, Progress
from heirloom.services.runpod.client import RunPodService
from heirloom.services.runpod.model_step import withdraw_model_run
from heirloom.services.runpod.transfer import ModelTransfer
from heirloom.services.storage.backend import make_storage
from heirloom.services.storage.base import Storage
from heirloom.services.storage.keys import (
    claim_key,
    claims_prefix,
    job_key,
    job_prefix,
    model_key,
)
from heirloom.services.storage.s3 import S3Storage
from tests.conftest import Stack
from tests.harness.stack import local_endpoint
from tests.support import balance, photo_bytes, submit, wait_final, wait_until

API_KEY = "cancel-key"
# 20 simulated denoising steps of 0.4 s: long enough to cancel in the middle.
EXECUTION_MS = 8000


def stored_input(storage: Storage, data: bytes) -> ModelRequest:
    job = JobRef(job_id=uuid.uuid4().hex, user_id="u1", operations="restore")
    key = job_key(job.user_id, job.job_id, "input", "jpg")
    storage.put(key, data, content_type="image/jpeg")
    return ModelRequest(job=job, input_key=key)


def model_objects(storage: Storage, user_id: str, job_id: str) -> set[str]:
    """The objects a job's model runs can leave: claims and model outputs."""
    keys = [claim_key(user_id, job_id, generation) for generation in range(3)]
    keys += [model_key(user_id, job_id, generation) for generation in range(3)]
    return {key for key in keys if storage.exists(key)}


def job_objects(storage: Storage, request: ModelRequest) -> set[str]:
    return model_objects(storage, request.job.user_id, request.job.job_id)


def s3_storage(s3_endpoint: str) -> dict[str, Any]:
    """Settings fields for a bucket of its own on the moto server."""
    return {
        "storage_backend": "s3",
        "s3_endpoint_url": s3_endpoint,
        "s3_bucket": f"cancel-{uuid.uuid4().hex[:12]}",
    }


def run_of(admin: httpx.Client, runpod_job: str) -> dict[str, Any]:
    runs = admin.get("/_admin/runs").json()
    return next(run for run in runs if run["id"] == runpod_job)


@pytest.fixture
def s3_endpoint_settings(s3_endpoint: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, runpod_api_key=API_KEY, **s3_storage(s3_endpoint))


@pytest.fixture
def endpoint(s3_endpoint_settings: Settings) -> Iterator[tuple[RunPodService, httpx.Client]]:
    """The local endpoint, its handler reaching S3 through presigned URLs, cancel RunPod-like."""
    with local_endpoint(s3_endpoint_settings) as url, httpx.Client(base_url=url) as admin:
        faults = {"execution_ms": EXECUTION_MS, "cancel_mode": "runpod"}
        assert admin.put("/_admin/faults", json=faults).status_code == 200
        runpod = RunPodService(
            api_key=API_KEY,
            endpoint_id=s3_endpoint_settings.runpod_endpoint_id,
            base_url=f"{url}/v2",
            request_timeout_s=10,
        )
        yield runpod, admin


def submitted_on_s3(
    settings: Settings, runpod: RunPodService
) -> tuple[S3Storage, ModelRequest, str]:
    """A photo stored on S3 and its model run submitted to the local endpoint (generation 0)."""
    storage = make_storage(settings)
    assert isinstance(storage, S3Storage)
    storage.ensure_bucket()
    request = stored_input(storage, photo_bytes(64, 48))
    payload = ModelTransfer(storage, settings).payload(request, generation=0)
    return storage, request, runpod.submit(payload, execution_timeout_s=60, ttl_s=600)


def test_a_runpod_like_cancel_stops_the_handler_within_one_step_and_leaves_no_object(
    s3_endpoint_settings: Settings, endpoint: tuple[RunPodService, httpx.Client]
) -> None:
    runpod, admin = endpoint
    storage, request, runpod_job = submitted_on_s3(s3_endpoint_settings, runpod)

    def denoising() -> int | None:
        progress = run_of(admin, runpod_job)["progress"] or {}
        step = progress.get("step", 0) if progress.get("stage") == "denoising" else 0
        return step if step >= 3 else None

    wait_until(denoising, "the handler's third denoising step")
    # What the model step does on a job's cancel: RunPod's /cancel, then withdraw the run.
    runpod.cancel(runpod_job)
    assert runpod.status(runpod_job).status == "CANCELLED"
    withdraw_model_run(storage, request)
    step_at_withdraw = run_of(admin, runpod_job)["progress"]["step"]

    stopped = wait_until(
        lambda: run_of(admin, runpod_job)["handler_stopped_at"], "the handler to stop"
    )
    assert stopped["cancelled"] is True
    assert stopped["stage"] == "denoising"
    total = stopped["total"]
    # The handler ran on after RunPod's cancel (it is not interrupted) and stopped within one
    # step of losing its claim, far from the end.
    assert step_at_withdraw <= stopped["step"] <= step_at_withdraw + 1 < total
    assert run_of(admin, runpod_job)["status"] == "CANCELLED"
    assert job_objects(storage, request) == set()


def test_an_upload_that_races_the_cancel_is_taken_back(
    s3_endpoint_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim goes while the result is on its way: the handler deletes what it uploaded."""
    storage = make_storage(s3_endpoint_settings)
    assert isinstance(storage, S3Storage)
    storage.ensure_bucket()
    request = stored_input(storage, photo_bytes(64, 48))
    payload = ModelTransfer(storage, s3_endpoint_settings).payload(request, generation=0)
    assert "delete_url" in payload["output"]
    deliver = handler_module.deliver_output
    uploads: list[str] = []

    def cancel_then_deliver(raw: Any, data: bytes) -> dict[str, Any]:
        withdraw_model_run(storage, request)
        answer = deliver(raw, data)
        uploads.append(answer["output_key"])
        return answer

    monkeypatch.setattr(handler_module, "deliver_output", cancel_then_deliver)
    output = run_job({"id": "rp-1", "input": payload}, CpuEngine())

    assert output["cancelled"] is True
    assert output["stage"] == "uploading"
    assert uploads == [payload["output"]["key"]]  # it did reach storage, and was taken back
    assert job_objects(storage, request) == set()


def test_a_handler_stops_at_the_step_its_claim_is_withdrawn(tmp_path: Path) -> None:
    """Claims by storage key (the local endpoint's storage): each step checks the claim."""
    storage = make_storage(Settings(home=tmp_path))
    request = stored_input(storage, photo_bytes(64, 48))
    payload = ModelTransfer(storage, Settings(home=tmp_path)).payload(request, generation=0)
    steps: list[int] = []

    class Withdrawing(CpuEngine):
        def apply(self, image: Image.Image, operations: Any, **kwargs: Any) -> Image.Image:
            progress = kwargs["progress"]
            for step in range(1, 9):
                steps.append(step)
                if step == 3:
                    withdraw_model_run(storage, request)
                progress(Progress(ModelStage.DENOISING, step, 8))
            return image

    output = run_job({"id": "rp-1", "input": payload}, Withdrawing(), storage)
    assert output == {"cancelled": True, "stage": "denoising", "step": 3, "total": 8, "percent": 38}
    assert steps == [1, 2, 3]
    assert job_objects(storage, request) == set()


def test_a_job_cancelled_through_the_api_stops_the_gpu_and_keeps_no_model_objects(
    faults: Stack,
) -> None:
    stack = faults
    stack.set_faults(execution_ms=EXECUTION_MS, cancel_mode="runpod")
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client:
        job_id = submit(client, photo_bytes(seed=41)).json()["id"]
        runpod_job = wait_until(
            lambda: stack.services.jobs.get(job_id).runpod_job_id, "the RunPod job"
        )
        with httpx.Client(base_url=stack.runpod_url) as admin:

            def stepping() -> int | None:
                progress = run_of(admin, runpod_job)["progress"] or {}
                return progress.get("step") if progress.get("stage") == "denoising" else None

            wait_until(stepping, "the handler's first denoising step")
            assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
            assert wait_final(client, job_id)["status"] == "cancelled"
            stopped = wait_until(
                lambda: run_of(admin, runpod_job)["handler_stopped_at"], "the handler to stop"
            )
            at_cancel = run_of(admin, runpod_job)["progress_at_cancel"]
    assert stopped["cancelled"] is True
    assert stopped["step"] <= at_cancel["step"] + 1 < stopped["total"]
    row = stack.services.jobs.get(job_id)
    assert model_objects(stack.services.storage, row.user_id, job_id) == set()


def test_a_handler_that_stops_itself_ends_the_job_cancelled_without_running_the_model_again(
    faults: Stack,
) -> None:
    """The claim is withdrawn while the model step waits (as settlement or an erasure does):
    the handler answers {"cancelled": true}, and the job takes the cancelled path: no "no
    image" failure, no second RunPod job, a full refund and no model object left."""
    stack = faults
    stack.set_faults(execution_ms=EXECUTION_MS, cancel_mode="runpod")
    user_id, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client, httpx.Client(base_url=stack.runpod_url) as admin:
        job_id = submit(client, photo_bytes(seed=43)).json()["id"]
        runpod_job = wait_until(
            lambda: stack.services.jobs.get(job_id).runpod_job_id, "the RunPod job"
        )

        def stepping() -> int | None:
            progress = run_of(admin, runpod_job)["progress"] or {}
            return progress.get("step") if progress.get("stage") == "denoising" else None

        wait_until(stepping, "the handler's first denoising step")
        stack.services.storage.delete_prefix(claims_prefix(user_id, job_id))
        done = wait_final(client, job_id)
        stopped = run_of(admin, runpod_job)["handler_stopped_at"]
        submitted = admin.get("/_admin/stats").json()["submitted_by_ref"]
        assert balance(client) == 20
    assert done["status"] == "cancelled"
    assert done["error"]["code"] == "cancelled"
    assert "no image" not in str(done)
    assert stopped["cancelled"] is True
    assert stopped["step"] < stopped["total"]
    assert submitted[job_id] == 1  # the one RunPod job; the model was not tried again
    assert model_objects(stack.services.storage, user_id, job_id) == set()


def test_an_erasure_while_the_model_runs_leaves_no_object_behind(
    s3_endpoint_settings: Settings, endpoint: tuple[RunPodService, httpx.Client]
) -> None:
    """An account erasure deletes each job's prefix (services/privacy/erasure.py), claims
    included: the handler, which RunPod would not interrupt, stops and uploads nothing."""
    runpod, admin = endpoint
    storage, request, runpod_job = submitted_on_s3(s3_endpoint_settings, runpod)

    def stepping() -> int | None:
        progress = run_of(admin, runpod_job)["progress"] or {}
        return progress.get("step") if progress.get("stage") == "denoising" else None

    wait_until(stepping, "the handler's first denoising step")
    storage.delete_prefix(job_prefix(request.job.user_id, request.job.job_id))
    step_at_erasure = run_of(admin, runpod_job)["progress"]["step"]
    stopped = wait_until(
        lambda: run_of(admin, runpod_job)["handler_stopped_at"], "the handler to stop"
    )
    assert stopped["step"] <= step_at_erasure + 1 < stopped["total"]
    assert not storage.exists(request.input_key)
    assert job_objects(storage, request) == set()
    assert run_of(admin, runpod_job)["status"] == "COMPLETED"  # the handler's own answer
