"""Job vocabulary shared by the API, the workflow and the database."""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from heirloom.domain.model_progress import ModelReport


class Operation(StrEnum):
    """What the model is asked to do with a photo."""

    RESTORE = "restore"
    COLORIZE = "colorize"


class JobStatus(StrEnum):
    """Where a job is in its life; completed, failed or cancelled ends it, and an ended job's
    files go when it expires (its tier's retention) or is deleted by its owner."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    DELETED = "deleted"

    @property
    def is_final(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)

    @property
    def has_files(self) -> bool:
        """Whether the job's original (and results, if any) are still kept."""
        return self not in (JobStatus.EXPIRED, JobStatus.DELETED)


class EndedBy(StrEnum):
    """Who ended a job that did not complete (the job row's `ended_by`)."""

    USER = "user"
    OPERATOR = "operator"
    SYSTEM = "system"


# The restoration workflow's cancel signal, by name for callers that do not import the workflow.
CANCEL_SIGNAL = "cancel"


class Stage(StrEnum):
    """The step a running job is in, with the progress it starts at."""

    QUEUED = "queued"
    RESERVING = "reserving"
    PREPARING = "preparing"
    WAITING_FOR_GPU = "waiting_for_gpu"
    PROCESSING = "processing"
    POSTPROCESSING = "postprocessing"
    FINALIZING = "finalizing"
    DONE = "done"

    @property
    def progress(self) -> int:
        return _STAGE_PROGRESS[self]


_STAGE_PROGRESS: dict[Stage, int] = {
    Stage.QUEUED: 0,
    Stage.RESERVING: 2,
    Stage.PREPARING: 5,
    Stage.WAITING_FOR_GPU: 10,
    Stage.PROCESSING: 15,
    Stage.POSTPROCESSING: 85,
    Stage.FINALIZING: 95,
    Stage.DONE: 100,
}

# The model step spans this share of the progress bar; RunPod progress maps into it.
MODEL_PROGRESS_SPAN = (Stage.PROCESSING.progress, Stage.POSTPROCESSING.progress)

# Inside the model span: the handler's work (domain/model_progress.py), from its first report
# to its last, one point clear of each end (the end is the workflow's postprocessing).
_HANDLER_SPAN = (MODEL_PROGRESS_SPAN[0] + 1, MODEL_PROGRESS_SPAN[1] - 1)


def model_progress(report: Mapping[str, Any] | None) -> int | None:
    """The job's progress for a handler's report {"stage", "step", "total"} (RunPod's
    IN_PROGRESS output), through the shared contract: it never falls along the stages, and
    denoising step k of n maps in proportion. None if the report says nothing.
    """
    parsed = ModelReport.from_dict(report)
    if parsed is None:
        return None
    low, high = _HANDLER_SPAN
    return low + math.floor((high - low) * parsed.fraction)


# What `operations` on POST /v1/jobs accepts, exactly: the OpenAPI document enumerates these.
OPERATION_FORMS: tuple[str, ...] = ("restore", "colorize", "restore,colorize", "colorize,restore")


def parse_operations(raw: str) -> tuple[Operation, ...]:
    """Parse `restore`, `colorize` or `restore,colorize` into a canonical, ordered tuple.

    Raises ValueError with a message meant for the user on anything else.
    """
    names = [part.strip().lower() for part in raw.split(",") if part.strip()]
    if not names:
        raise ValueError("operations must name at least one of: restore, colorize")
    ops: set[Operation] = set()
    for name in names:
        try:
            ops.add(Operation(name))
        except ValueError:
            raise ValueError(
                f"unknown operation {name!r}; choose restore, colorize or restore,colorize"
            ) from None
    return tuple(op for op in Operation if op in ops)


def operations_label(ops: tuple[Operation, ...]) -> str:
    """The canonical comma-separated form stored on the job row."""
    return ",".join(op.value for op in ops)
