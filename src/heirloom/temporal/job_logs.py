"""The job fields of a worker's log lines: each activity's job, workflow id and attempt."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from heirloom.services.ops.logs import JobIds, bind_job


class JobLogInterceptor(Interceptor):
    """Binds the job of an activity's input (a `job` JobRef or a `job_id`) for its log lines."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _JobActivityInbound(next)


class _JobActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        ids = _job_ids(input.args[0] if input.args else None, info.workflow_id, info.attempt)
        with bind_job(ids):
            return await super().execute_activity(input)


def _job_ids(argument: Any, workflow_id: str | None, attempt: int) -> JobIds:
    job = getattr(argument, "job", argument)
    job_id = getattr(job, "job_id", None)
    user_id = getattr(job, "user_id", None)
    return JobIds(
        job_id if isinstance(job_id, str) else None,
        user_id if isinstance(user_id, str) and isinstance(job_id, str) else None,
        workflow_id,
        attempt,
    )
