"""Progress a handler reports while it works: the shared contract in domain/model_progress.py."""

from __future__ import annotations

from collections.abc import Callable

from heirloom.domain.model_progress import ModelReport, ModelStage

Progress = ModelReport

ProgressReporter = Callable[[ModelReport], None]

__all__ = ["ModelStage", "Progress", "ProgressReporter", "ignore_progress"]


def ignore_progress(progress: ModelReport) -> None:
    """The reporter for callers that do not follow progress."""
