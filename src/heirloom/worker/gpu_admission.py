"""Admission to the GPU queue's worker: its GPU slots at once, each prefetched step by time.

A worker holds its GPU slots plus `gpu_prefetch_per_endpoint` model steps per endpoint; the
prefetched one waits at RunPod so a GPU starts it the moment a run ends. Taken from the GPU
queue as soon as a slot frees, that step is whichever job was first then: a paid job that
arrives a moment later waits behind it for one more run end, up to two model times with few
GPUs. So the worker takes a step beyond its GPU slots only shortly before the run whose GPU it
will take should end (`EndpointPool.admission_wait_s`): Temporal then hands it the
highest-priority step waiting at that moment, which still reaches RunPod before the GPU frees.
While no end is known (no model time learnt yet) a step is admitted at once, as before.

This is a Temporal custom slot supplier for the GPU worker's activity slots: the core asks for
a slot before each poll of the GPU queue, so a slot held back is a task left in the queue, in
priority order, for the next slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from temporalio.worker import (
    CustomSlotSupplier,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
)

from heirloom.services.runpod.pool import EndpointPool

log = logging.getLogger(__name__)

# However admission's inputs change (a lease's estimate, a poll's answer), it looks again at
# least this often.
RECHECK_S = 0.25


class GpuAdmission(CustomSlotSupplier):
    """The GPU worker's activity slots: `slots` at once, up to `limit` by expected ends."""

    def __init__(
        self,
        pool: Callable[[], EndpointPool],
        *,
        slots: int,
        limit: int,
        lead_s: float,
        timed: bool = True,
    ) -> None:
        # The running event loop's pool (the worker's EndpointPools.current).
        self._pool = pool
        self.slots = slots
        self.limit = limit
        self.lead_s = lead_s
        # False: up to `limit` at once (the design before; bench/pool_sim.py's baseline).
        self.timed = timed
        # Slots reserved and not yet released. The core may release from another thread.
        self.held = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        # The core asks for a slot per poller; one at a time looks at the pool.
        self._turn = asyncio.Lock()

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        self._loop = asyncio.get_running_loop()
        pool = self._pool()
        async with self._turn:
            while True:
                with self._lock:
                    if self.timed:
                        wait = pool.admission_wait_s(self.held, self.limit, self.lead_s)
                    else:
                        wait = 0.0 if self.held < self.limit else None
                    if wait is not None and wait <= 0:
                        self.held += 1
                        return SlotPermit()
                await pool.changed(RECHECK_S if wait is None else min(wait, RECHECK_S))

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        """An eager task (none on the GPU queue, which runs no workflows): a GPU slot only."""
        with self._lock:
            if self.held >= self.slots:
                return None
            self.held += 1
        return SlotPermit()

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        return None

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        with self._lock:
            self.held = max(0, self.held - 1)
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nothing waits
                loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._pool().wake()
