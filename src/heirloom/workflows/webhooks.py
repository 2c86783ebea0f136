"""Webhook workflows: a dispatcher on a Schedule, and one delivery workflow per delivery run."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from heirloom.activities.webhooks import WebhookActivities
    from heirloom.domain.messages import WebhookDeliveryInput, WebhookDispatchInput
    from heirloom.workflows.retry import OPS_RETRY, webhook_delivery_retry

_STEP_TIMEOUT = timedelta(seconds=60)


@workflow.defn
class WebhookDispatchWorkflow:
    """Start a delivery workflow for every delivery owed; idempotent, runs on a Schedule."""

    @workflow.run
    async def run(self, request: WebhookDispatchInput) -> int:
        return await workflow.execute_activity_method(
            WebhookActivities.start_deliveries,
            request,
            start_to_close_timeout=_STEP_TIMEOUT,
            retry_policy=OPS_RETRY,
        )


@workflow.defn
class WebhookDeliveryWorkflow:
    """Send one delivery until its receiver answers 2xx, backing off exponentially over the
    retry window; then record it delivered, or failed once the window has passed."""

    @workflow.run
    async def run(self, request: WebhookDeliveryInput) -> bool:
        try:
            await workflow.execute_activity_method(
                WebhookActivities.send,
                request.delivery_id,
                start_to_close_timeout=_STEP_TIMEOUT,
                schedule_to_close_timeout=timedelta(seconds=request.retry_window_s),
                retry_policy=webhook_delivery_retry(request.retry_first_s, request.retry_longest_s),
            )
        except ActivityError:
            await workflow.execute_activity_method(
                WebhookActivities.give_up,
                request.delivery_id,
                start_to_close_timeout=_STEP_TIMEOUT,
                retry_policy=OPS_RETRY,
            )
            return False
        return True
