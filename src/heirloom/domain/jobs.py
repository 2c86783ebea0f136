"""Job vocabulary shared by the API, the workflow and the database."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


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

# Within the model span: the handler decoding its input, the model's own steps, then encoding.
_MODEL_STEPS_SPAN = (MODEL_PROGRESS_SPAN[0] + 2, MODEL_PROGRESS_SPAN[1] - 4)
# Handler stages reported after the model's last step (they restart their own step count).
_HANDLER_FINISHING = frozenset({"encoding", "done"})


def model_progress(report: Mapping[str, Any] | None) -> int | None:
    """The job's progress for a handler's report {"stage", "step", "total"} (RunPod's
    IN_PROGRESS output): model step k of n maps into the model's span. None if it says nothing.
    """
    if not report:
        return None
    stage = report.get("stage")
    if stage in _HANDLER_FINISHING:
        return MODEL_PROGRESS_SPAN[1] - 2
    step, total = report.get("step"), report.get("total")
    if not isinstance(step, int) or not isinstance(total, int) or total <= 0:
        return None
    low, high = _MODEL_STEPS_SPAN
    return low + (high - low) * min(max(step, 0), total) // total


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
