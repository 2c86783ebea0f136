"""Run Temporal workers for the configured tiers, one per tier task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from prometheus_client import start_http_server
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import FixedSizeSlotSupplier, Worker, WorkerTuner

from heirloom.activities.albums import AlbumActivities
from heirloom.activities.alerts import AlertActivities
from heirloom.activities.cleanup import CleanupActivities
from heirloom.activities.erasure import ErasureActivities
from heirloom.activities.events import EventActivities
from heirloom.activities.export import ExportActivities
from heirloom.activities.queue_metrics import QueueMetricsActivities
from heirloom.activities.reconcile import ReconcileActivities
from heirloom.activities.restoration import RestorationActivities
from heirloom.activities.webhooks import WebhookActivities
from heirloom.config import Settings
from heirloom.domain.task_queues import EXPORT_TASK_QUEUE, GPU_TASK_QUEUE, OPS_TASK_QUEUE
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.quality.processes import GateProcesses
from heirloom.starters.webhooks import DeliveryStarter, webhook_dispatch_input
from heirloom.temporal.job_logs import JobLogInterceptor
from heirloom.worker.gpu_admission import GpuAdmission
from heirloom.worker.schedules import ensure_schedules
from heirloom.workflows.album import AlbumWorkflow
from heirloom.workflows.alerts import AlertsWorkflow
from heirloom.workflows.cleanup import CleanupWorkflow
from heirloom.workflows.erasure import ErasureWorkflow
from heirloom.workflows.events import EventsPruneWorkflow
from heirloom.workflows.export import ExportWorkflow
from heirloom.workflows.queue_metrics import QueueMetricsWorkflow
from heirloom.workflows.reconcile import ReconcileWorkflow
from heirloom.workflows.restoration import RestorationWorkflow
from heirloom.workflows.webhooks import WebhookDeliveryWorkflow, WebhookDispatchWorkflow

log = logging.getLogger(__name__)


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    return await Client.connect(
        settings.temporal_address, namespace=settings.temporal_namespace, runtime=runtime
    )


def serve_metrics(settings: Settings) -> Runtime | None:
    """Serve this worker's Prometheus metrics, and a Temporal runtime exporting the SDK's own
    metrics on their port; each only when its port is set."""
    if settings.worker_metrics_port is not None:
        start_http_server(settings.worker_metrics_port)
    if settings.worker_temporal_metrics_port is None:
        return None
    bind = f"0.0.0.0:{settings.worker_temporal_metrics_port}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind)))


def activity_functions(activities: RestorationActivities) -> list[Callable[..., Any]]:
    return [
        activities.reserve_credits,
        activities.prepare_input,
        activities.run_model,
        activities.check_quality,
        activities.postprocess,
        activities.complete_job,
        activities.refund_credits,
        activities.discard_outputs,
        activities.finish_job,
    ]


def album_activities(albums: AlbumActivities) -> list[Callable[..., Any]]:
    """An album's activities that run beside its workflow on the tier's queue (the ZIP is
    built on the export queue)."""
    return [albums.reserve_album, albums.finish_album, albums.expire_album_zip]


def erasure_activities(erasure: ErasureActivities) -> list[Callable[..., Any]]:
    return [
        erasure.close_account,
        erasure.stop_jobs,
        erasure.delete_files,
        erasure.delete_histories,
        erasure.anonymise_records,
    ]


def ops_worker(client: Client, services: Services, executor: ThreadPoolExecutor) -> Worker:
    """The periodic (scheduled) workflows: reconciliation, and each one declared after it.

    Its process starts webhook deliveries as their events commit (starters/webhooks.py)."""
    DeliveryStarter(
        client,
        services.webhooks,
        webhook_dispatch_input(services.settings),
        asyncio.get_running_loop(),
    ).subscribe()
    reconcile = ReconcileActivities(services, client)
    cleanup = CleanupActivities(services)
    webhooks = WebhookActivities(services, client)
    alerts = AlertActivities(services, client)
    events = EventActivities(services)
    queue_metrics = QueueMetricsActivities(services, client)
    return Worker(
        client,
        task_queue=OPS_TASK_QUEUE,
        workflows=[
            ReconcileWorkflow,
            CleanupWorkflow,
            ErasureWorkflow,
            WebhookDispatchWorkflow,
            WebhookDeliveryWorkflow,
            EventsPruneWorkflow,
            AlertsWorkflow,
            QueueMetricsWorkflow,
        ],
        activities=[
            reconcile.find_stranded,
            reconcile.settle_job,
            cleanup.expire_due,
            *erasure_activities(ErasureActivities(services, client)),
            webhooks.start_deliveries,
            webhooks.send,
            webhooks.give_up,
            events.prune_events,
            alerts.evaluate_alerts,
            alerts.deliver_alert,
            queue_metrics.record_queue_metrics,
        ],
        activity_executor=executor,
        max_concurrent_activities=4,
        graceful_shutdown_timeout=timedelta(seconds=services.settings.worker_graceful_shutdown_s),
    )


def export_worker(client: Client, services: Services, executor: ThreadPoolExecutor) -> Worker:
    """Data exports, on a queue of their own: a long build takes one of these slots, never one
    of the operations queue's, where refunds, erasures and webhooks wait."""
    export = ExportActivities(services)
    albums = AlbumActivities(services)
    return Worker(
        client,
        task_queue=EXPORT_TASK_QUEUE,
        workflows=[ExportWorkflow],
        activities=[
            export.build_export,
            export.fail_export,
            export.remove_export,
            albums.build_album_zip,
        ],
        activity_executor=executor,
        max_concurrent_activities=services.settings.worker_export_slots,
        graceful_shutdown_timeout=timedelta(seconds=services.settings.worker_graceful_shutdown_s),
    )


def gpu_worker(
    client: Client, activities: RestorationActivities, executor: ThreadPoolExecutor
) -> Worker:
    """This process's share of the GPU pool: its slots, plus one job prefetched per endpoint
    (`Settings.gpu_admission`), bound the RunPod jobs it has in flight, and the backlog waits
    in the GPU queue, in priority order, costing nothing. Each prefetched job is taken from the
    queue shortly before the GPU it waits for frees (worker/gpu_admission.py)."""
    settings = activities.settings
    slots = sum(endpoint.gpu_slots for endpoint in settings.gpu_endpoints)
    timed = (
        settings.gpu_prefetch_by_expected_end
        and settings.runpod_poll_by_expected_end
        and settings.gpu_admission > slots
    )
    if not timed:
        return Worker(
            client,
            task_queue=GPU_TASK_QUEUE,
            activities=[activities.run_model],
            activity_executor=executor,
            max_concurrent_activities=settings.gpu_admission,
            graceful_shutdown_timeout=timedelta(seconds=settings.worker_graceful_shutdown_s),
            max_heartbeat_throttle_interval=timedelta(seconds=1),
            interceptors=[JobLogInterceptor()],
        )
    admission = GpuAdmission(
        activities.gpu_pools.current,
        slots=slots,
        limit=settings.gpu_admission,
        lead_s=settings.gpu_prefetch_lead_s,
    )
    # The GPU queue runs no workflows; the other kinds keep the SDK's default of 100.
    unused = FixedSizeSlotSupplier(100)
    return Worker(
        client,
        task_queue=GPU_TASK_QUEUE,
        activities=[activities.run_model],
        activity_executor=executor,
        tuner=WorkerTuner.create_composite(
            workflow_supplier=unused,
            activity_supplier=admission,
            local_activity_supplier=unused,
            nexus_supplier=unused,
        ),
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_graceful_shutdown_s),
        max_heartbeat_throttle_interval=timedelta(seconds=1),
        interceptors=[JobLogInterceptor()],
    )


def build_workers(
    client: Client,
    services: Services,
    executor: ThreadPoolExecutor,
    tiers: Sequence[Tier],
    gate: GateProcesses,
) -> list[Worker]:
    """One worker per tier queue plus the operations and export queues, sharing threads,
    services and the quality gate's processes."""
    activities = RestorationActivities(services, gate)
    albums = AlbumActivities(services)
    settings = services.settings
    gpu = [gpu_worker(client, activities, executor)] if settings.worker_gpu_slots else []
    ops = [ops_worker(client, services, executor), export_worker(client, services, executor)]
    return [*ops, *gpu] + [
        Worker(
            client,
            task_queue=tier.task_queue,
            workflows=[RestorationWorkflow, AlbumWorkflow],
            activities=[*activity_functions(activities), *album_activities(albums)],
            activity_executor=executor,
            max_concurrent_activities=settings.worker_max_concurrent_activities.get(tier, 4),
            graceful_shutdown_timeout=timedelta(seconds=settings.worker_graceful_shutdown_s),
            # Heartbeats carry cancellations to activities: keep them frequent.
            max_heartbeat_throttle_interval=timedelta(seconds=1),
            interceptors=[JobLogInterceptor()],
        )
        for tier in tiers
    ]


async def run_worker(settings: Settings, tiers: Sequence[Tier] | None = None) -> None:
    """Poll the tiers' task queues until SIGINT or SIGTERM, then drain and stop."""
    tiers = list(settings.worker_tiers if tiers is None else tiers)
    client = await connect(settings, serve_metrics(settings))
    services = Services.build(settings, pool_size=settings.worker_db_pool_size)
    if settings.schedules_enabled:
        await ensure_schedules(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with (
        ThreadPoolExecutor(max_workers=settings.worker_activity_threads) as executor,
        GateProcesses(settings.quality, settings.worker_quality_processes) as gate,
    ):
        workers = build_workers(client, services, executor, tiers, gate)
        tasks = [asyncio.create_task(worker.run()) for worker in workers]
        log.info("worker polling %s", ", ".join(worker.task_queue for worker in workers))
        await stop.wait()
        await asyncio.gather(*(worker.shutdown() for worker in workers))
        await asyncio.gather(*tasks, return_exceptions=True)
        await services.runpod.close_async()
    services.close()
