"""Webhook activities: start a workflow per owed delivery (the sweep), and send one delivery."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from heirloom.domain.messages import (
    WebhookDeliveryInput,
    WebhookDispatchInput,
    WebhookSendResult,
)
from heirloom.services.context import Services
from heirloom.services.events.webhooks import Webhooks

# The type a failed attempt carries; the delivery workflow retries it declaratively.
NOT_DELIVERED = "webhook_not_delivered"


def delivery_workflow_id(delivery_id: int, run: int) -> str:
    """One workflow per delivery and run: a started one is never started twice."""
    return f"webhook-delivery-{delivery_id}-{run}"


async def start_owed(client: Client, webhooks: Webhooks, request: WebhookDispatchInput) -> int:
    """Start the delivery workflow of each owed delivery (one batch); returns how many were
    owed. Run by the sweep's activity and by the process that committed the event; two at once
    start each delivery once (duplicate workflow ids are rejected)."""
    owed = await asyncio.to_thread(webhooks.pending, request.batch)
    for delivery_id, run in owed:
        # Already started: an earlier pass stopped before recording so, or another process's.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await client.start_workflow(
                "WebhookDeliveryWorkflow",
                WebhookDeliveryInput(
                    delivery_id=delivery_id,
                    retry_first_s=request.retry_first_s,
                    retry_longest_s=request.retry_longest_s,
                    retry_window_s=request.retry_window_s,
                ),
                id=delivery_workflow_id(delivery_id, run),
                task_queue=request.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                execution_timeout=timedelta(seconds=request.retry_window_s + 3600),
            )
        await asyncio.to_thread(webhooks.mark_started, delivery_id, run)
    return len(owed)


class WebhookActivities:
    """Over the services and a Temporal client; registered on the operations queue."""

    def __init__(self, services: Services, client: Client) -> None:
        self.services = services
        self.client = client

    @activity.defn
    async def start_deliveries(self, request: WebhookDispatchInput) -> int:
        """Start the delivery workflow of each owed delivery; returns how many were owed."""
        return await start_owed(self.client, self.services.webhooks, request)

    @activity.defn
    def send(self, delivery_id: int) -> WebhookSendResult:
        """POST one delivery; anything but a 2xx answer fails the attempt, to be retried."""
        attempt = self.services.webhooks.send(delivery_id)
        if not attempt.delivered:
            raise ApplicationError(attempt.error or "not delivered", type=NOT_DELIVERED)
        return WebhookSendResult(delivered=True, status=attempt.status)

    @activity.defn
    def give_up(self, delivery_id: int) -> None:
        self.services.webhooks.give_up(delivery_id)
