"""Account erasure activities: stop the user's jobs, delete files and histories, anonymise."""

from __future__ import annotations

import asyncio
import contextlib

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.service import RPCError, RPCStatusCode

from heirloom.domain.jobs import CANCEL_SIGNAL, EndedBy
from heirloom.domain.messages import ErasureInput
from heirloom.services.context import Services
from heirloom.temporal import search_attributes

# The error type of "jobs are still stopping": retried by the workflow's RetryPolicy.
JOBS_STOPPING = "jobs_stopping"


class ErasureActivities:
    """Over the services and a Temporal client; registered on the operations queue."""

    def __init__(self, services: Services, client: Client) -> None:
        self.services = services
        self.client = client

    @activity.defn
    def close_account(self, request: ErasureInput) -> bool:
        return self.services.erasure.close_account(request.user_id)

    @activity.defn
    async def stop_jobs(self, request: ErasureInput) -> None:
        """Cancel the user's running jobs (each refunds itself); fails until all have ended."""
        running = await asyncio.to_thread(
            self.services.erasure.job_ids, request.user_id, unfinished_only=True
        )
        for job_id in running:
            activity.heartbeat()
            handle = self.client.get_workflow_handle(job_id)
            with contextlib.suppress(RPCError):
                await handle.signal(CANCEL_SIGNAL, EndedBy.USER)
            with contextlib.suppress(RPCError):
                await handle.cancel()
        if running:
            # Expected while the jobs refund and end: benign, so it is not logged as a failure.
            raise ApplicationError(
                f"{len(running)} jobs are still stopping",
                type=JOBS_STOPPING,
                category=ApplicationErrorCategory.BENIGN,
            )

    @activity.defn
    def delete_files(self, request: ErasureInput) -> int:
        """Delete every file under the user's prefix, heartbeating after each job's."""
        return self.services.erasure.delete_files(request.user_id, activity.heartbeat)

    @activity.defn
    async def delete_histories(self, request: ErasureInput) -> int:
        """Delete every workflow run of the user's jobs from Temporal; returns how many."""
        job_ids = await asyncio.to_thread(self.services.erasure.job_ids, request.user_id)
        runs = {(job_id, "") for job_id in job_ids}
        # Visibility also finds earlier runs under a reused id; the database the latest ones.
        query = f"{search_attributes.USER_ID.name} = '{request.user_id}'"
        async for execution in self.client.list_workflows(query):
            runs.add((execution.id, execution.run_id))
            activity.heartbeat()
        deleted = 0
        for workflow_id, run_id in sorted(runs):
            try:
                await self.client.workflow_service.delete_workflow_execution(
                    DeleteWorkflowExecutionRequest(
                        namespace=self.client.namespace,
                        workflow_execution=WorkflowExecution(
                            workflow_id=workflow_id, run_id=run_id
                        ),
                    )
                )
                deleted += 1
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
            activity.heartbeat(deleted)
        return deleted

    @activity.defn
    def anonymise_records(self, request: ErasureInput) -> None:
        self.services.erasure.anonymise_records(request.user_id)
        self.services.erasure.log_erased(request.user_id)
