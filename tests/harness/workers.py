"""The product's workers for tests and benchmarks: in a thread of this process, with its own
event loop, or as a `heirloom worker` child process that can be killed without warning."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Self

from temporalio.client import Client

from heirloom.config import Settings
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.quality.processes import GateProcesses
from heirloom.temporal.task_queues import TemporalTaskQueues
from heirloom.worker.main import build_workers, connect

# How long WorkerThread.start waits for its workers to be seen polling.
READY_TIMEOUT_S = 120.0


async def wait_polled(client: Client, tiers: Sequence[Tier]) -> None:
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

    def __enter__(self) -> Self:
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
        with (
            ThreadPoolExecutor(max_workers=settings.worker_activity_threads) as executor,
            GateProcesses(settings.quality, settings.worker_quality_processes) as gate,
        ):
            workers = build_workers(client, self.services, executor, settings.worker_tiers, gate)
            async with contextlib.AsyncExitStack() as stack:
                for worker in workers:
                    await stack.enter_async_context(worker)
                await wait_polled(client, settings.worker_tiers)
                self._ready.set()
                await asyncio.get_running_loop().run_in_executor(None, self._stop.wait)
            await self.services.runpod.close_async()


# What `heirloom worker` logs once its workers poll (heirloom.worker.main).
WORKER_READY_LINE = "worker polling"


def _worker_env(settings: Settings) -> dict[str, str]:
    concurrency = {tier.value: n for tier, n in settings.worker_max_concurrent_activities.items()}
    return {
        **os.environ,
        "HEIRLOOM_HOME": str(settings.home),
        "HEIRLOOM_DATABASE_URL": settings.resolved_database_url,
        "HEIRLOOM_TEMPORAL_ADDRESS": settings.temporal_address,
        "HEIRLOOM_TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "HEIRLOOM_RUNPOD_API_KEY": settings.runpod_api_key,
        "HEIRLOOM_RUNPOD_BASE_URL": settings.runpod_base_url,
        "HEIRLOOM_RUNPOD_POLL_INTERVAL_S": str(settings.runpod_poll_interval_s),
        "HEIRLOOM_WORKER_MAX_CONCURRENT_ACTIVITIES": json.dumps(concurrency),
        "HEIRLOOM_WORKER_GPU_SLOTS": str(settings.worker_gpu_slots),
        # The reservation runs in the worker: it must apply the test's tier rules too.
        "HEIRLOOM_TIER_RULES": json.dumps(
            {
                tier.value: rules.model_dump(mode="json")
                for tier, rules in settings.tier_rules.items()
            }
        ),
    }


class WorkerProcess:
    """`heirloom worker` as a child process that can be killed without warning."""

    def __init__(
        self,
        settings: Settings,
        log: Path,
        queues: tuple[str, ...] = ("--tiers", "paid"),
        env: dict[str, str] | None = None,
        entry: tuple[str, ...] = ("heirloom.cli",),
    ) -> None:
        self.settings = settings
        self.log = log
        self.queues = queues
        # Variables beyond the settings passed on, e.g. HEIRLOOM_FAULTS__<NAME>.
        self.env = env or {}
        # The module run with `python -m` (and its leading arguments) before `worker`.
        self.entry = entry
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *self.entry, "worker", *self.queues],
                env={**_worker_env(self.settings), **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def ready(self) -> bool:
        """Whether the latest start has reached polling its task queues."""
        if not self.log.exists():
            return False
        return self.log.read_text(errors="replace").count(WORKER_READY_LINE) >= self.starts

    def exited_with(self) -> int | None:
        """The exit status if the process ended by itself, else None."""
        return None if self.process is None else self.process.poll()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
