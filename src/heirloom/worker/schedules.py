"""Every Temporal Schedule Heirloom runs, declared once and kept in sync at worker start.

A periodic job is a workflow module plus one `Periodic` line in `periodic_jobs`. Creating is
idempotent: an existing schedule is updated to the declared interval and input, so a change of
settings takes effect on the next worker start. The schedules show in the Web UI's Schedules tab.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from heirloom.config import Settings
from heirloom.domain.alerts import AlertsInput
from heirloom.domain.messages import (
    CleanupInput,
    PruneEventsInput,
    ReconcileInput,
)
from heirloom.domain.queue_metrics import QueueMetricsInput
from heirloom.domain.task_queues import OPS_TASK_QUEUE
from heirloom.starters.webhooks import webhook_dispatch_input as webhook_dispatch_input
from heirloom.workflows.alerts import AlertsWorkflow
from heirloom.workflows.cleanup import CleanupWorkflow
from heirloom.workflows.events import EventsPruneWorkflow
from heirloom.workflows.queue_metrics import QueueMetricsWorkflow
from heirloom.workflows.reconcile import ReconcileWorkflow
from heirloom.workflows.webhooks import WebhookDispatchWorkflow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    """One scheduled workflow: its schedule id, workflow, input and interval."""

    schedule_id: str
    workflow: str
    argument: Any
    every: timedelta
    summary: str


def periodic_jobs(settings: Settings) -> list[Periodic]:
    """The declared schedules, from settings."""
    return [
        Periodic(
            "heirloom-reconcile",
            ReconcileWorkflow.__name__,
            ReconcileInput(grace_s=settings.reconcile_grace_s, batch=settings.reconcile_batch),
            timedelta(seconds=settings.reconcile_interval_s),
            "Settle jobs left charged without a live run",
        ),
        Periodic(
            "heirloom-retention-cleanup",
            CleanupWorkflow.__name__,
            CleanupInput(batch=settings.retention_batch),
            timedelta(seconds=settings.retention_cleanup_interval_s),
            "Delete the files of jobs whose retention ended",
        ),
        Periodic(
            "heirloom-webhooks",
            WebhookDispatchWorkflow.__name__,
            webhook_dispatch_input(settings),
            timedelta(seconds=settings.webhook_dispatch_interval_s),
            "Safety net: start any webhook delivery still owed (each starts as its event commits)",
        ),
        Periodic(
            "heirloom-events-prune",
            EventsPruneWorkflow.__name__,
            PruneEventsInput(retention_days=settings.events_retention_days),
            timedelta(hours=1),
            "Delete job events past their retention",
        ),
        Periodic(
            "heirloom-alerts",
            AlertsWorkflow.__name__,
            AlertsInput(window_s=settings.alert_window_s),
            timedelta(seconds=settings.alerts_interval_s),
            "Evaluate alert rules; notify on new and resolved incidents",
        ),
        Periodic(
            "heirloom-queue-metrics",
            QueueMetricsWorkflow.__name__,
            QueueMetricsInput(retention_days=settings.queue_metrics_retention_days),
            timedelta(seconds=settings.queue_metrics_interval_s),
            "Record the GPU queue per tier and priority; prune past the retention",
        ),
    ]


def _schedule(job: Periodic) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            job.workflow,
            job.argument,
            id=f"{job.schedule_id}-run",
            task_queue=OPS_TASK_QUEUE,
            static_summary=job.summary,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=job.every)]),
        # A slow pass is never run twice at once; the next tick after it catches up.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """Create each declared schedule, or update it to the declaration."""
    for job in periodic_jobs(settings):
        schedule = _schedule(job)
        try:
            await client.create_schedule(job.schedule_id, schedule)
            log.info("created schedule %s every %s", job.schedule_id, job.every)
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(job.schedule_id).update(replace)
