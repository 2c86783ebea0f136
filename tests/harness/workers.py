"""The product's workers in a thread of the test (or benchmark) process, with its own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client

from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.temporal.task_queues import TemporalTaskQueues
from heirloom.worker.main import build_workers, connect

# How long WorkerThread.start waits for its workers to be seen polling.
READY_TIMEOUT_S = 120.0


async def _polled(client: Client, tiers: Sequence[Tier]) -> None:
    """Wait until Temporal lists a fresh poller on each tier's workflow queue."""
    task_queues = TemporalTaskQueues(client)
    for tier in tiers:
        while True:
            if await task_queues.has_pollers(tier.task_queue):
                break
            await asyncio.sleep(0.05)


class WorkerThread:
    """The workers of `settings.worker_tiers` in a thread with its own event loop.

    For tests and benchmarks that drive the stack from synchronous code in one process. A
    subclass may build other workers by overriding `_main` (set `_ready` once they poll).
    """

    ready_timeout_s = READY_TIMEOUT_S

    def __init__(self, services: Services) -> None:
        self.services = services
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Start the workers and return once Temporal sees them poll every tier's queue, so a
        submission right after is served (the API refuses a tier nothing polls)."""
        self._thread.start()
        if not self._ready.wait(self.ready_timeout_s) or self._error is not None:
            raise RuntimeError("the worker did not start") from self._error

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def __enter__(self) -> WorkerThread:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:
            self._error = err
            self._ready.set()
            raise

    async def _main(self) -> None:
        settings = self.services.settings
        client = await connect(settings)
        with ThreadPoolExecutor(max_workers=settings.worker_activity_threads) as executor:
            workers = build_workers(client, self.services, executor, settings.worker_tiers)
            async with contextlib.AsyncExitStack() as stack:
                for worker in workers:
                    await stack.enter_async_context(worker)
                await _polled(client, settings.worker_tiers)
                self._ready.set()
                await asyncio.get_running_loop().run_in_executor(None, self._stop.wait)
            await self.services.runpod.close_async()
