"""The handler claims a job before any model work; only the claimant runs the model."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from heirloom.domain.jobs import Operation
from heirloom.gpu_handler.engines import CpuEngine
from heirloom.gpu_handler.handler import run_job
from heirloom.gpu_handler.progress import ProgressReporter, ignore_progress
from heirloom.services.storage.keys import claim_key
from heirloom.services.storage.local import LocalStorage
from tests.support import photo_bytes

CLAIM = claim_key("u1", "j1", 0)


class CountingEngine(CpuEngine):
    """The CPU engine, counting its model runs."""

    def __init__(self) -> None:
        self.runs = 0

    def apply(
        self,
        image: Image.Image,
        operations: Sequence[Operation],
        *,
        seed: int = 0,
        progress: ProgressReporter = ignore_progress,
    ) -> Image.Image:
        self.runs += 1
        return super().apply(image, operations, seed=seed, progress=progress)


def job(runpod_job_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": runpod_job_id,
        "input": {
            "image_base64": base64.b64encode(photo_bytes(48, 32)).decode("ascii"),
            "operations": ["restore"],
            "job_ref": "j1",
            "generation": 0,
            "claim": {"key": CLAIM},
            **extra,
        },
    }


def test_the_first_execution_claims_and_runs_the_model(tmp_path: Path) -> None:
    storage, engine = LocalStorage(tmp_path), CountingEngine()

    output = run_job(job("rp-1"), engine, storage)

    assert "image_base64" in output
    assert engine.runs == 1
    assert json.loads(storage.get(CLAIM)) == {
        "runpod_job_id": "rp-1",
        "job_ref": "j1",
        "generation": 0,
    }


def test_a_second_execution_points_at_the_claimant_without_the_model(tmp_path: Path) -> None:
    storage, engine = LocalStorage(tmp_path), CountingEngine()
    run_job(job("rp-1"), engine, storage)

    output = run_job(job("rp-2"), engine, storage)

    assert output == {"duplicate_of": "rp-1"}
    assert engine.runs == 1


def test_runpod_running_the_same_job_again_runs_the_model_again(tmp_path: Path) -> None:
    storage, engine = LocalStorage(tmp_path), CountingEngine()
    run_job(job("rp-1"), engine, storage)

    output = run_job(job("rp-1"), engine, storage)

    assert "image_base64" in output
    assert engine.runs == 2


def test_a_claim_by_key_without_storage_fails_before_the_model() -> None:
    engine = CountingEngine()

    output = run_job(job("rp-1"), engine, None)

    assert "send URLs" in output["error"]
    assert engine.runs == 0


def test_bad_operations_fail_before_anything_is_claimed(tmp_path: Path) -> None:
    storage, engine = LocalStorage(tmp_path), CountingEngine()

    output = run_job(job("rp-1", operations=["sharpen"]), engine, storage)

    assert "unknown operation" in output["error"]
    assert not storage.exists(CLAIM)
