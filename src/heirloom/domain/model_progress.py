"""The progress contract between the GPU handler and the backend: one definition, both import it.

The handler reports {"stage", "step", "total"} (plus a derived "percent") as RunPod progress,
with the stages in the order they happen: `loading` (the input photo is read), `encoding` (the
prompt and the photo are encoded), `denoising` step k of n, `decoding` (the latents become the
picture: the model has finished), `uploading` (the result goes to its presigned URL). `step`
and `total` count denoising steps in every stage: 0 of n before denoising, n of n after it. The
backend maps a report into the job's model span with `model_fraction`; the poll scheduler reads
`model_finished` and the step rate from the same reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ModelStage(StrEnum):
    """What the handler is doing, in the order it happens."""

    LOADING = "loading"
    ENCODING = "encoding"
    DENOISING = "denoising"
    DECODING = "decoding"
    UPLOADING = "uploading"

    @property
    def finished_model(self) -> bool:
        """Whether the model's denoising is over in this stage."""
        return self in (ModelStage.DECODING, ModelStage.UPLOADING)


# The share of the handler's work (0..1) at which each stage starts; denoising spans up to
# decoding's start, step by step. Decoding and uploading cost about one step each on a GPU.
_STAGE_START: dict[ModelStage, float] = {
    ModelStage.LOADING: 0.0,
    ModelStage.ENCODING: 0.02,
    ModelStage.DENOISING: 0.05,
    ModelStage.DECODING: 0.93,
    ModelStage.UPLOADING: 0.97,
}


@dataclass(frozen=True)
class ModelReport:
    """One progress report: `step` of `total` denoising steps are done, in `stage`."""

    stage: ModelStage
    step: int
    total: int

    @property
    def percent(self) -> int:
        """The share of the denoising steps done (0 before denoising, 100 after it)."""
        return round(100 * self.step / self.total) if self.total else 100

    @property
    def fraction(self) -> float:
        """The share of the handler's whole work done, 0..1: it never falls along the stages."""
        start = _STAGE_START[self.stage]
        if self.stage is not ModelStage.DENOISING:
            return start
        done = min(max(self.step, 0), self.total) / self.total if self.total else 1.0
        return start + (_STAGE_START[ModelStage.DECODING] - start) * done

    @property
    def model_finished(self) -> bool:
        return self.stage.finished_model

    def to_dict(self) -> dict[str, str | int]:
        """The body RunPod shows as the IN_PROGRESS job's output."""
        return {
            "stage": self.stage.value,
            "step": self.step,
            "total": self.total,
            "percent": self.percent,
        }

    @classmethod
    def from_dict(cls, body: Mapping[str, Any] | None) -> ModelReport | None:
        """The report in a RunPod IN_PROGRESS output; None when it is not one."""
        if not body:
            return None
        stage, step, total = body.get("stage"), body.get("step"), body.get("total")
        # bool is an int subclass; `true` is no step.
        if not isinstance(step, int) or isinstance(step, bool):
            return None
        if not isinstance(total, int) or isinstance(total, bool) or total <= 0:
            return None
        try:
            return cls(ModelStage(str(stage)), step, total)
        except ValueError:
            return None


# How a handler's error starts when the worker, not the job, failed (a fatal GPU error): the
# backend retries such a job as transient, on the fresh worker RunPod starts.
WORKER_FAULT_PREFIX = "worker fault: "
