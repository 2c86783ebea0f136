"""Starting webhook deliveries as their events commit, in the process that committed them.

A process with a Temporal client (the worker, the API) subscribes a `DeliveryStarter` to its
services' webhooks: each commit that owes a delivery wakes it, and it starts the owed delivery
workflows on its event loop within milliseconds. Wakes that arrive during a pass make one more
pass after it, never a pass each. The scheduled sweep (`heirloom-webhooks`, minutes apart)
starts whatever a process left owed when it died between the commit and the start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from temporalio.client import Client

from heirloom.activities.webhooks import start_owed
from heirloom.config import Settings
from heirloom.domain.messages import WebhookDispatchInput
from heirloom.domain.task_queues import OPS_TASK_QUEUE
from heirloom.services.events.webhooks import Webhooks

log = logging.getLogger(__name__)


def webhook_dispatch_input(settings: Settings, *, batch: int = 200) -> WebhookDispatchInput:
    """Where deliveries run and how they back off, from settings (the sweep's input too)."""
    return WebhookDispatchInput(
        batch=batch,
        task_queue=OPS_TASK_QUEUE,
        retry_first_s=settings.webhook_retry_first_s,
        retry_longest_s=settings.webhook_retry_longest_s,
        retry_window_s=settings.webhook_retry_window_s,
    )


class DeliveryStarter:
    """Starts owed deliveries on `loop` when woken from any thread."""

    def __init__(
        self,
        client: Client,
        webhooks: Webhooks,
        request: WebhookDispatchInput,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.client = client
        self.webhooks = webhooks
        self.request = request
        self.loop = loop
        self._again = False
        self._task: asyncio.Task[None] | None = None

    def subscribe(self) -> Callable[[], None]:
        """Be woken by every commit of these webhooks' database that owes a delivery; returns
        what unsubscribes."""
        return self.webhooks.on_owed(self.wake)

    def wake(self) -> bool:
        """Ask for a pass (thread-safe, returns at once); False once the loop has closed."""
        if self.loop.is_closed():
            return False
        try:
            self.loop.call_soon_threadsafe(self._woken)
        except RuntimeError:  # closed meanwhile: the sweep starts what is owed
            return False
        return True

    async def idle(self) -> None:
        """Wait for the pass under way, if any (tests, shutdown)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    def _woken(self) -> None:
        self._again = True
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._passes())

    async def _passes(self) -> None:
        while self._again:
            self._again = False
            try:
                owed = await start_owed(self.client, self.webhooks, self.request)
            except Exception as err:  # the sweep starts what this pass could not
                log.warning("starting webhook deliveries failed: %s", err)
                return
            # A full batch may have left more behind.
            self._again = self._again or owed >= self.request.batch
