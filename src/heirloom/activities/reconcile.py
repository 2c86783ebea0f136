"""Reconciliation activities: find unfinished jobs whose run is gone, and settle them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from heirloom.db.models import Job
from heirloom.domain.albums import album_workflow_id
from heirloom.domain.messages import SettleRequest, StrandedPage, StrandedQuery
from heirloom.services.context import Services

# Describe calls in flight at once; each is one small RPC to the Temporal frontend.
_DESCRIBE_CONCURRENCY = 8


class ReconcileActivities:
    """Over the services and a Temporal client; registered on the operations queue."""

    def __init__(self, services: Services, client: Client) -> None:
        self.services = services
        self.client = client

    @activity.defn
    async def find_stranded(self, query: StrandedQuery) -> StrandedPage:
        """The page's unfinished jobs whose workflow is closed or was never started."""
        cutoff = datetime.fromtimestamp(query.cutoff, UTC)
        jobs = await asyncio.to_thread(
            self.services.jobs.unfinished_before,
            cutoff,
            after_id=query.after_id,
            limit=query.limit,
        )
        gate = asyncio.Semaphore(_DESCRIBE_CONCURRENCY)

        async def run_is_gone(job: Job) -> bool:
            async with gate:
                if not await self._run_is_gone(job.id):
                    return False
                # An album's photo waits for its album to start its run: stranded only once
                # the album's run is gone too.
                if job.album_id is not None:
                    return await self._run_is_gone(album_workflow_id(job.album_id))
                return True

        gone = await asyncio.gather(*(run_is_gone(job) for job in jobs))
        return StrandedPage(
            checked=len(jobs),
            stranded=[job.id for job, closed in zip(jobs, gone, strict=True) if closed],
            next_after=jobs[-1].id if len(jobs) == query.limit else None,
        )

    @activity.defn
    def settle_job(self, request: SettleRequest) -> int:
        """Refund once, remove outputs, end the job failed `interrupted`; returns the refund."""
        refunded = self.services.settlement.settle_interrupted(
            request.job_id, detail=request.detail
        ).refunded
        self.services.retention.stamp_expiry(request.job_id)
        return refunded

    async def _run_is_gone(self, job_id: str) -> bool:
        # Describe, not visibility: a list query may not show a run started a moment ago yet.
        try:
            description = await self.client.get_workflow_handle(job_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return True
            raise
        return description.status != WorkflowExecutionStatus.RUNNING
