"""A fatal GPU error ends the worker (RunPod's refresh_worker) and the job fails as transient;
any other engine error stays the handler's exception (RunPod: FAILED with its traceback)."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, cast

import pytest
from PIL import Image

from heirloom.config import Settings
from heirloom.domain.errors import (
    NON_RETRYABLE_CODES,
    HeirloomError,
    JobCancelled,
    ModelFailed,
    ModelUnavailable,
)
from heirloom.domain.messages import JobRef, ModelRequest
from heirloom.domain.model_progress import WORKER_FAULT_PREFIX
from heirloom.gpu_handler.engines import CpuEngine
from heirloom.gpu_handler.handler import is_fatal_gpu_error, run_job
from heirloom.services.runpod.client import RunPodJobState
from heirloom.services.runpod.model_step import ModelStep, StepAttempt
from heirloom.services.storage.local import LocalStorage


class FailingEngine(CpuEngine):
    def __init__(self, error: Exception) -> None:
        self.error = error

    def apply(self, image: Image.Image, operations: Any, **kwargs: Any) -> Image.Image:
        raise self.error


class OutOfMemoryError(RuntimeError):
    """Named as torch.cuda.OutOfMemoryError is; torch is not installed here."""


def job() -> dict[str, Any]:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), (90, 90, 90)).save(out, "PNG")
    body = {"image_base64": base64.b64encode(out.getvalue()).decode(), "operations": ["restore"]}
    return {"id": "rp-1", "input": body}


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("CUDA error: an illegal memory access was encountered"),
        OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
        RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED when calling `cublasGemmEx`"),
    ],
    ids=["illegal-access", "oom", "cublas"],
)
def test_a_fatal_gpu_error_asks_for_a_fresh_worker(error: Exception) -> None:
    assert is_fatal_gpu_error(error)
    output = run_job(job(), FailingEngine(error))
    assert output["refresh_worker"] is True
    assert output["error"].startswith(WORKER_FAULT_PREFIX)
    assert str(error) in output["error"]


def test_any_other_engine_error_is_raised_as_it_is() -> None:
    error = ValueError("not a GPU fault")
    assert not is_fatal_gpu_error(error)
    with pytest.raises(ValueError, match="not a GPU fault"):
        run_job(job(), FailingEngine(error))


class Jobs:
    def set_stage(self, *args: Any, **kwargs: Any) -> None: ...
    def set_progress(self, job_id: str, progress: int) -> None: ...
    def set_model(
        self, job_id: str, model: str, provenance: dict[str, Any] | None = None
    ) -> None: ...


def ended(status: str, error: str | None, output: dict[str, Any] | None = None) -> HeirloomError:
    step = ModelStep(
        runpod=cast(Any, None),
        polls=cast(Any, None),
        runs=cast(Any, None),
        jobs=Jobs(),
        storage=LocalStorage(Path("/nonexistent")),
        transfer=cast(Any, None),
        settings=Settings(),
    )
    request = ModelRequest(
        job=JobRef(job_id="j1", user_id="u1", operations="restore"), input_key="k"
    )
    state = RunPodJobState("rp-1", status, output, error, 0, 100)
    attempt = StepAttempt(
        number=1, heartbeat=lambda *a: None, heartbeat_every_s=1, cancel_requested=lambda: False
    )
    with pytest.raises((ModelUnavailable, ModelFailed, JobCancelled)) as raised:
        step._store_output(request, state, attempt, 0)
    return raised.value


def test_the_backend_retries_a_worker_fault_as_transient() -> None:
    fault = ended("FAILED", f"{WORKER_FAULT_PREFIX}RuntimeError: CUDA error: illegal memory access")
    assert isinstance(fault, ModelUnavailable)
    assert not isinstance(ended("FAILED", "the image is damaged"), ModelUnavailable)


def test_a_handler_that_stopped_itself_ends_the_step_cancelled_without_a_retry() -> None:
    """{"cancelled": true} is the handler's answer when its claim was withdrawn: the job's
    cancel path, not "the model returned no image" and not a model failure to try again."""
    stop = {"cancelled": True, "stage": "denoising", "step": 3, "total": 8, "percent": 38}
    error = ended("COMPLETED", None, stop)
    assert isinstance(error, JobCancelled)
    assert not error.retryable
    assert error.code in NON_RETRYABLE_CODES
    assert "denoising step 3/8" in error.message
    assert "no image" not in error.message
    assert error.details == {"runpod_job": "rp-1"}
