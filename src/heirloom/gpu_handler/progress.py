"""Progress a handler reports while the engine works: step k of n, with the stage's name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """Step `step` of `total` is done; `stage` names what the engine is doing."""

    stage: str
    step: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.step / self.total) if self.total else 100

    def to_dict(self) -> dict[str, str | int]:
        """The body RunPod shows as the IN_PROGRESS job's output."""
        return {
            "stage": self.stage,
            "step": self.step,
            "total": self.total,
            "percent": self.percent,
        }


ProgressReporter = Callable[[Progress], None]


def ignore_progress(progress: Progress) -> None:
    """The reporter for callers that do not follow progress."""
