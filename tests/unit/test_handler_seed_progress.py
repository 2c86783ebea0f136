"""The handler passes each job's seed to the engine and reports the engine's progress."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import pytest
from PIL import Image

from heirloom.domain.jobs import Operation
from heirloom.domain.seeds import SEED_LIMIT, job_seed
from heirloom.gpu_handler.engines import CpuEngine
from heirloom.gpu_handler.handler import HANDLER_VERSION, run_job
from heirloom.gpu_handler.progress import Progress, ProgressReporter, ignore_progress


class SeedRecordingEngine(CpuEngine):
    """The CPU engine, remembering the seed of every call."""

    def __init__(self) -> None:
        self.seeds: list[int] = []

    def apply(
        self,
        image: Image.Image,
        operations: Sequence[Operation],
        *,
        seed: int = 0,
        progress: ProgressReporter = ignore_progress,
    ) -> Image.Image:
        self.seeds.append(seed)
        return super().apply(image, operations, seed=seed, progress=progress)


def job(**fields: Any) -> dict[str, Any]:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), (90, 90, 90)).save(out, "PNG")
    body = {"image_base64": base64.b64encode(out.getvalue()).decode(), "operations": ["restore"]}
    return {"id": "rp-1", "input": {**body, **fields}}


def test_the_input_seed_reaches_the_engine() -> None:
    engine = SeedRecordingEngine()
    assert "error" not in run_job(job(seed=123456789, job_ref="j1"), engine)
    assert engine.seeds == [123456789]


def test_without_a_seed_the_job_refs_seed_is_used() -> None:
    engine = SeedRecordingEngine()
    run_job(job(job_ref="j1"), engine)
    run_job(job(job_ref="j1", seed=None), engine)
    assert engine.seeds == [job_seed("j1"), job_seed("j1")]


@pytest.mark.parametrize("seed", [-1, SEED_LIMIT, 1.5, "7", True])
def test_a_bad_seed_is_refused_before_the_engine_runs(seed: object) -> None:
    engine = SeedRecordingEngine()
    result = run_job(job(seed=seed), engine)
    assert result["error"].startswith("seed must be an integer")
    assert engine.seeds == []


def test_the_handler_reports_the_contracts_stages_in_order() -> None:
    reports: list[Progress] = []
    run_job(job(operations=["colorize", "restore"]), CpuEngine(), progress=reports.append)
    assert [(p.stage, p.step, p.total) for p in reports] == [
        ("loading", 0, 1),
        ("encoding", 0, 2),
        ("denoising", 1, 2),
        ("denoising", 2, 2),
        ("decoding", 2, 2),
        ("uploading", 2, 2),
    ]
    assert reports[-1].to_dict() == {"stage": "uploading", "step": 2, "total": 2, "percent": 100}


def test_the_handler_reports_what_made_the_output_with_its_seed_and_version() -> None:
    output = run_job(job(seed=4242, job_ref="j1"), CpuEngine())

    assert output["model"] == CpuEngine.model
    assert output["provenance"] == {
        **CpuEngine.provenance,
        "engine": CpuEngine.name,
        "seed": 4242,
        "handler_version": HANDLER_VERSION,
    }
