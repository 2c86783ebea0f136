"""Every Temporal Schedule Heirloom runs, declared once and kept in sync at worker start.

A periodic job is a workflow module plus one `Periodic` line in `periodic_jobs`. Creating is
idempotent: an existing schedule is updated to the declared interval and input, so a change of
settings takes effect on the next worker start. The schedules show in the Web UI's Schedules tab.

A job with a short interval (`loops=True`: reconciliation, alerts, queue metrics) does not start
a run per pass. Its schedule starts a run every `run_for` (an hour at the default intervals), and
that run makes a pass every `every` until its window ends (workflows/periodic.py); the overlap
policy BUFFER_ONE starts the next run as one ends, so the passes keep their interval. Such a
schedule triggers a run when it is created; when a worker updates it, the run in progress is
told to finish after its pass and another is triggered, which starts as that one ends: the
declared input (and a new worker's code) takes over at once. So an idle stack records a few runs
an hour for these jobs instead of one per pass.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError

from heirloom.config import Settings
from heirloom.domain.alerts import AlertsInput
from heirloom.domain.messages import (
    CleanupInput,
    PruneEventsInput,
    ReconcileInput,
)
from heirloom.domain.periodic import FINISH_SIGNAL, Pace
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

# A looping job's run lasts at most this long, and makes at most this many passes (its history
# stays small: a pass is about a dozen events).
LONGEST_RUN = timedelta(hours=1)
MOST_PASSES_PER_RUN = 120


@dataclass(frozen=True)
class Periodic:
    """One scheduled workflow: its schedule id, workflow, one pass's input, the interval of its
    passes and whether one run makes many of them (`loops`: the input has a `pace`)."""

    schedule_id: str
    workflow: str
    argument: Any
    every: timedelta
    summary: str
    loops: bool = False

    def __post_init__(self) -> None:
        if self.loops and not isinstance(getattr(self.argument, "pace", None), Pace):
            raise TypeError(f"{self.schedule_id}: a looping job's input needs a `pace` field")

    @property
    def run_for(self) -> timedelta:
        """How often the schedule starts a run, and how long a run makes passes."""
        if not self.loops:
            return self.every
        return max(self.every, min(LONGEST_RUN, self.every * MOST_PASSES_PER_RUN))

    @property
    def scheduled_argument(self) -> Any:
        """The input a scheduled run starts with: a looping job's at its pace."""
        if not self.loops:
            return self.argument
        pace = Pace(every_s=self.every.total_seconds(), window_s=self.run_for.total_seconds())
        return dataclasses.replace(self.argument, pace=pace)


def periodic_jobs(settings: Settings) -> list[Periodic]:
    """The declared schedules, from settings."""
    return [
        Periodic(
            "heirloom-reconcile",
            ReconcileWorkflow.__name__,
            ReconcileInput(grace_s=settings.reconcile_grace_s, batch=settings.reconcile_batch),
            timedelta(seconds=settings.reconcile_interval_s),
            "Settle jobs left charged without a live run",
            loops=True,
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
            loops=True,
        ),
        Periodic(
            "heirloom-queue-metrics",
            QueueMetricsWorkflow.__name__,
            QueueMetricsInput(retention_days=settings.queue_metrics_retention_days),
            timedelta(seconds=settings.queue_metrics_interval_s),
            "Record the GPU queue per tier and priority; prune past the retention",
            loops=True,
        ),
    ]


def _schedule(job: Periodic) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            job.workflow,
            job.scheduled_argument,
            id=f"{job.schedule_id}-run",
            task_queue=OPS_TASK_QUEUE,
            static_summary=job.summary,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=job.run_for)]),
        policy=SchedulePolicy(
            # A looping run ends as its window does: the next starts then, not an hour later.
            # A single pass is never run twice at once; the next tick after it catches up.
            overlap=ScheduleOverlapPolicy.BUFFER_ONE if job.loops else ScheduleOverlapPolicy.SKIP
        ),
    )


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """Create each declared schedule, or update it to the declaration; a looping job's run
    starts at once (see the module's docstring)."""
    for job in periodic_jobs(settings):
        schedule = _schedule(job)
        try:
            await client.create_schedule(job.schedule_id, schedule, trigger_immediately=job.loops)
            log.info("created schedule %s every %s", job.schedule_id, job.run_for)
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            handle = client.get_schedule_handle(job.schedule_id)
            await handle.update(replace)
            if job.loops:
                await _hand_over(client, handle)


async def _hand_over(client: Client, handle: ScheduleHandle) -> None:
    """Tell the schedule's running run to finish after its pass, and trigger the next (with
    BUFFER_ONE it starts as the running one ends, with the schedule's input as updated)."""
    description = await handle.describe()
    if description.schedule.state.paused:  # by an operator: it stays so
        return
    for running in description.info.running_actions:
        if not isinstance(running, ScheduleActionExecutionStartWorkflow):
            continue
        try:
            await client.get_workflow_handle(running.workflow_id).signal(FINISH_SIGNAL)
        except RPCError as err:  # it ended meanwhile
            log.info("schedule %s: run %s not signalled: %s", handle.id, running.workflow_id, err)
    await handle.trigger()
