"""The progress contract (domain/model_progress.py): the handler's real stage sequence through
the backend's mapping and the poll scheduler's pacing."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from heirloom.domain.jobs import MODEL_PROGRESS_SPAN, Stage, model_progress
from heirloom.domain.model_progress import ModelReport, ModelStage
from heirloom.gpu_handler.engines import CpuEngine
from heirloom.gpu_handler.handler import run_job
from heirloom.gpu_handler.progress import Progress
from heirloom.services.runpod.budget import RequestBudget
from heirloom.services.runpod.client import RunPodJobState
from heirloom.services.runpod.polls import FIRST_POLL_WAIT_S, PollPlan, expected_remaining_s

# A GPU-like timeline for the handler's reports: seconds each stage takes.
LOADING_S, ENCODING_S, STEP_S = 0.3, 0.4, 0.5


class SteppedEngine(CpuEngine):
    """The CPU engine with n denoising steps, as a diffusers step callback reports them."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def apply(self, image: Image.Image, operations: Any, **kwargs: Any) -> Image.Image:
        progress = kwargs["progress"]
        progress(Progress(ModelStage.ENCODING, 0, self.steps))
        for step in range(1, self.steps + 1):
            progress(Progress(ModelStage.DENOISING, step, self.steps))
        progress(Progress(ModelStage.DECODING, self.steps, self.steps))
        return image


def handler_reports(engine: CpuEngine) -> list[dict[str, Any]]:
    """What the real handler reports to RunPod for one job, as RunPod shows it."""
    out = io.BytesIO()
    Image.new("RGB", (24, 16), (90, 90, 90)).save(out, "PNG")
    job = {
        "id": "rp-1",
        "input": {
            "image_base64": base64.b64encode(out.getvalue()).decode(),
            "operations": ["restore", "colorize"],
        },
    }
    reports: list[dict[str, Any]] = []
    result = run_job(job, engine, progress=lambda p: reports.append(p.to_dict()))
    assert "image_base64" in result
    return reports


def elapsed_at(report: dict[str, Any]) -> float:
    """Execution time when `report` is sent, on the GPU-like timeline."""
    stage = report["stage"]
    if stage == "loading":
        return 0.01
    if stage == "encoding":
        return LOADING_S
    return LOADING_S + ENCODING_S + STEP_S * int(report["step"])


def state(report: dict[str, Any]) -> RunPodJobState:
    elapsed_ms = round(elapsed_at(report) * 1000)
    return RunPodJobState("rp-1", "IN_PROGRESS", report, None, 0, elapsed_ms)


@pytest.mark.parametrize("engine", [CpuEngine(), SteppedEngine(8)], ids=["cpu", "8-steps"])
def test_the_handlers_real_sequence_rises_and_finishes_the_model_after_its_last_step(
    engine: CpuEngine,
) -> None:
    reports = handler_reports(engine)
    stages = [r["stage"] for r in reports]
    assert stages[0] == "loading"
    assert stages[-2:] == ["decoding", "uploading"]
    figures = [model_progress(r) for r in reports]
    assert all(f is not None for f in figures)
    values = [f for f in figures if f is not None]
    low, high = MODEL_PROGRESS_SPAN
    assert values == sorted(values)
    assert low < values[0]
    assert values[-1] < high
    # Denoising step by step: strictly rising, the percent from its first step to 100.
    denoising = [(r, f) for r, f in zip(reports, values, strict=True) if r["stage"] == "denoising"]
    assert [f for _, f in denoising] == sorted({f for _, f in denoising})
    assert [r["percent"] for r, _ in denoising][-1] == 100
    assert [r["percent"] for r, _ in denoising] == sorted(r["percent"] for r, _ in denoising)
    # "The model finished" only after the last step, never before.
    finished = [ModelReport.from_dict(r) for r in reports]
    first_finished = next(i for i, r in enumerate(finished) if r is not None and r.model_finished)
    last_step = max(i for i, r in enumerate(reports) if r["stage"] == "denoising")
    assert first_finished == last_step + 1
    assert reports[last_step]["step"] == reports[last_step]["total"]
    # The workflow's own stages carry on from the model span.
    assert values[-1] < Stage.POSTPROCESSING.progress < Stage.DONE.progress == 100


def test_the_poll_rate_follows_the_reported_steps() -> None:
    reports = handler_reports(SteppedEngine(8))
    remaining = [expected_remaining_s(state(r)) for r in reports]
    by_stage = dict(zip([r["stage"] for r in reports], remaining, strict=False))
    # Before denoising nothing says when the model ends: the waits grow, no 20 ms re-polls.
    assert by_stage["loading"] is None
    assert by_stage["encoding"] is None
    steps = [
        (r["step"], left)
        for r, left in zip(reports, remaining, strict=True)
        if r["stage"] == "denoising"
    ]
    # Each step's estimate is the steps left at the step rate measured so far. The execution
    # time includes loading and encoding, so early estimates run long (the next poll comes a
    # little late, never early) and close in on the truth as steps go by.
    for step, left in steps:
        assert left is not None
        truth = max(0.0, STEP_S * (8 - step - 0.5))
        assert truth - 0.01 <= left <= truth + (LOADING_S + ENCODING_S) * (8 - step) / step
    assert steps[-2][1] == pytest.approx(STEP_S * 0.5, abs=0.1)
    estimates = [left or 0.0 for _, left in steps]
    assert estimates == sorted(estimates, reverse=True)
    # Decoding and uploading: about one step more, not the 20 ms floor.
    for stage in ("decoding", "uploading"):
        left = by_stage[stage]
        assert left is not None
        assert left > 5 * FIRST_POLL_WAIT_S

    # Through the poll plan: after the first poll, no wait before denoising sits at the floor.
    clock = [0.0]
    plan = PollPlan(
        RequestBudget(100, clock=lambda: clock[0]), longest_wait_s=5.0, clock=lambda: clock[0]
    )
    plan.add(1, "rp-1")
    waits: list[float] = []
    for report in reports[:2]:  # loading, encoding
        clock[0] += 1.0
        assert plan.take_due() == [(1, "rp-1")]
        plan.answered(1, expected_remaining_s(state(report)))
        wake = plan.next_wake()
        assert wake is not None
        waits.append(wake - clock[0])
    assert all(wait > FIRST_POLL_WAIT_S for wait in waits)
    assert waits == sorted(waits)


def test_reports_that_say_nothing_give_no_figure() -> None:
    assert model_progress(None) is None
    assert model_progress({}) is None
    assert model_progress({"stage": "denoising"}) is None
    assert model_progress({"stage": "denoising", "step": 1, "total": 0}) is None
    assert model_progress({"stage": "denoising", "step": "1", "total": 5}) is None
    assert model_progress({"stage": "denoising", "step": True, "total": 5}) is None
    assert model_progress({"stage": "thinking", "step": 1, "total": 5}) is None
    # A stray step beyond the total stays inside the denoising part.
    beyond = model_progress({"stage": "denoising", "step": 9, "total": 5})
    assert beyond == model_progress({"stage": "denoising", "step": 5, "total": 5})
    decoding = model_progress({"stage": "decoding", "step": 5, "total": 5})
    assert beyond is not None
    assert decoding is not None
    assert beyond <= decoding
