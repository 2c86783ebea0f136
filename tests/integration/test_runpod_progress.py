"""The local RunPod endpoint shows the handler's last progress report in /status, like RunPod."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from PIL import Image

from heirloom.config import Settings
from heirloom.devstack import endpoint
from heirloom.domain.jobs import Operation
from heirloom.gpu_handler.engines import CpuEngine
from heirloom.gpu_handler.progress import ModelStage, Progress, ProgressReporter, ignore_progress
from heirloom.services.runpod.client import RunPodService
from tests.integration.test_runpod_endpoint import photo_payload, running_endpoint, wait_for

API_KEY = "progress-key"
ENDPOINT_ID = "progress-endpoint"


class HeldEngine(CpuEngine):
    """The CPU engine, which reports step 1 of 3 and then waits until released."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def apply(
        self,
        image: Image.Image,
        operations: Sequence[Operation],
        *,
        seed: int = 0,
        progress: ProgressReporter = ignore_progress,
    ) -> Image.Image:
        progress(Progress(ModelStage.DENOISING, 1, 3))
        assert self.release.wait(30), "the test never released the engine"
        return super().apply(image, operations, seed=seed, progress=progress)


@pytest.fixture
def held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HeldEngine, str]]:
    engine = HeldEngine()
    monkeypatch.setattr(endpoint, "CpuEngine", lambda: engine)
    settings = Settings(home=tmp_path, runpod_api_key=API_KEY, runpod_endpoint_id=ENDPOINT_ID)
    with running_endpoint(settings) as url:
        try:
            yield engine, url
        finally:
            engine.release.set()


def test_status_shows_the_last_progress_report_while_the_job_runs(
    held: tuple[HeldEngine, str],
) -> None:
    engine, url = held
    runpod = RunPodService(
        api_key=API_KEY, endpoint_id=ENDPOINT_ID, base_url=url, request_timeout_s=5
    )
    job_id = runpod.submit(photo_payload(), execution_timeout_s=60, ttl_s=600)
    running = wait_for(runpod, job_id, lambda state: state.output is not None)
    assert running.status == "IN_PROGRESS"
    assert running.output == {"stage": "denoising", "step": 1, "total": 3, "percent": 33}
    engine.release.set()
    done = wait_for(runpod, job_id)
    assert done.status == "COMPLETED"
    assert done.output is not None
    assert "image_base64" in done.output
