"""The model step's progress follows the handler's reports, end to end through the stream."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from PIL import Image

from heirloom.devstack import endpoint
from heirloom.devstack.temporal_server import TemporalDevServer
from heirloom.domain.jobs import Operation, model_progress
from heirloom.domain.tiers import Tier
from heirloom.gpu_handler.engines import CpuEngine
from heirloom.gpu_handler.progress import ModelStage, Progress, ProgressReporter, ignore_progress
from tests.conftest import PROGRESS_NAMESPACE
from tests.harness.stack import running_stack
from tests.support import photo_bytes, submit

STEPS = 4


class SteppedEngine(CpuEngine):
    """The CPU engine, reporting denoising step k of 4 and holding there until released."""

    def __init__(self) -> None:
        self.release = {step: threading.Event() for step in range(1, STEPS + 1)}

    def apply(
        self,
        image: Image.Image,
        operations: Sequence[Operation],
        *,
        seed: int = 0,
        progress: ProgressReporter = ignore_progress,
    ) -> Image.Image:
        for step in range(1, STEPS + 1):
            progress(Progress(ModelStage.DENOISING, step, STEPS))
            assert self.release[step].wait(60), f"the test never released step {step}"
        return super().apply(image, operations, seed=seed)


def test_job_progress_follows_the_handlers_step_reports(
    temporal_server: TemporalDevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = SteppedEngine()
    monkeypatch.setattr(endpoint, "CpuEngine", lambda: engine)
    expected = [
        model_progress({"stage": "denoising", "step": k, "total": STEPS})
        for k in range(1, STEPS + 1)
    ]
    seen: list[dict[str, Any]] = []
    try:
        with running_stack(
            tmp_path,
            f"sqlite:///{tmp_path / 'heirloom.db'}",
            temporal_server.address,
            PROGRESS_NAMESPACE,
            runpod_key="progress-key",
            model_heartbeat_timeout_s=5,
        ) as stack:
            key = stack.services.accounts.create(
                email="progress@example.com", tier=Tier.PAID, credits=20
            ).api_key
            with httpx.Client(
                base_url=stack.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as client:
                job_id = submit(client, photo_bytes(seed=31)).json()["id"]
                url = f"/v1/jobs/{job_id}/events"
                with connect_sse(client, "GET", url, timeout=120) as source:
                    for sse in source.iter_sse():
                        job = json.loads(sse.data)["job"]
                        seen.append(job)
                        # Release the next step once the job shows this one.
                        for step, figure in enumerate(expected, start=1):
                            if job["progress"] == figure:
                                engine.release[step].set()
    finally:
        for release in engine.release.values():
            release.set()
    progress = [job["progress"] for job in seen]
    assert progress == sorted(progress)
    assert seen[-1]["status"] == "completed"
    assert progress[-1] == 100
    model = [p for job, p in zip(seen, progress, strict=True) if job["stage"] == "processing"]
    # Every step the handler reported reached the job, in order, and nothing in between but
    # the handler's other stages (domain/model_progress.py).
    assert [p for p in expected if p in model] == expected
    others = {
        model_progress({"stage": stage, "step": 0 if stage == "loading" else STEPS, "total": STEPS})
        for stage in ("loading", "uploading")
    }
    assert set(model) <= {*expected, *others, 15}
