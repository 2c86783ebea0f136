"""Logging: human lines in development, one JSON object per line in production, and on every
line logged while a job's activity runs its job id, user id, workflow id and attempt.

The worker binds the running activity's job with `bind_job` (heirloom.temporal.job_logs);
this module reads it back for each record and imports no Temporal.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

HUMAN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOB_FIELDS = ("job_id", "user_id", "workflow_id", "attempt")


@dataclass(frozen=True)
class JobIds:
    """The job a log line is about, and the activity attempt that logged it."""

    job_id: str | None
    user_id: str | None
    workflow_id: str | None = None
    attempt: int | None = None


_current_job: ContextVar[JobIds | None] = ContextVar("heirloom_current_job", default=None)


class JobContext(logging.Filter):
    """Adds the running activity's job fields to each record (absent outside a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = _current_job.get()
        if job is not None:
            record.job_id, record.user_id = job.job_id, job.user_id
            record.workflow_id, record.attempt = job.workflow_id, job.attempt
        return True


@contextmanager
def bind_job(ids: JobIds) -> Iterator[None]:
    """Every line logged inside the block carries these job fields."""
    token = _current_job.set(ids)
    try:
        yield
    finally:
        _current_job.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, job fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in JOB_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        workflow = getattr(record, "temporal_workflow", None)
        if isinstance(workflow, dict) and "workflow_id" not in line:
            line["workflow_id"] = workflow.get("workflow_id")
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(log_format: Literal["human", "json"], level: int = logging.INFO) -> None:
    """Replace the root logger's handlers with one stderr handler in the chosen format."""
    handler = logging.StreamHandler()
    handler.addFilter(JobContext())
    handler.setFormatter(JsonFormatter() if log_format == "json" else _HumanFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)


class _HumanFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(HUMAN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        job_id = getattr(record, "job_id", None)
        if job_id is None:
            return text
        return f"{text} [job {job_id} attempt {getattr(record, 'attempt', '?')}]"
