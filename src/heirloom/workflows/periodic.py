"""One run, many passes: a periodic workflow repeats its pass at its pace inside one run.

A workflow of a periodic job calls `repeat(request.pace, pass_)`. With the default pace the pass
runs once (a test, a start by hand). With the pace its Schedule gives it, the run makes a pass
at once and then one per `every_s`, on a grid from the run's start (a pass that overruns skips
the slots it covered), and ends at the end of its window: the schedule's next run (overlap
BUFFER_ONE) starts as it ends, so the passes go on without a gap or a double. The history stays
bounded: the schedule sizes the window to a bounded number of passes (worker/schedules.py).

A failed pass (an activity that ran out of attempts) is logged and the next pass goes on; the
run fails only when its last pass did. The FINISH_SIGNAL ends the run after the pass in
progress, or at once between passes.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from heirloom.domain.periodic import FINISH_SIGNAL, Pace

T = TypeVar("T")


async def repeat(pace: Pace, one_pass: Callable[[], Awaitable[T]]) -> T:
    """Run `one_pass` at `pace` within this run; the last pass's result (or its error)."""
    if not pace.repeats:
        return await one_pass()
    finishing = False

    def finish() -> None:
        nonlocal finishing
        finishing = True

    workflow.set_signal_handler(FINISH_SIGNAL, finish)
    began = workflow.now()
    slot = 0
    last: T | ActivityError
    while True:
        try:
            last = await one_pass()
        except ActivityError as err:
            last = err
            workflow.logger.warning("pass %d failed, the next one goes on: %s", slot, err)
        if finishing:
            break
        elapsed = (workflow.now() - began).total_seconds()
        # The next slot on the grid still ahead (a pass longer than the interval skips some).
        slot = max(slot + 1, math.floor(elapsed / pace.every_s) + 1)
        wake = min(slot * pace.every_s, pace.window_s)
        if wake <= elapsed:
            break
        try:
            await workflow.wait_condition(lambda: finishing, timeout=wake - elapsed)
            break  # told to finish
        except TimeoutError:
            pass
        if wake >= pace.window_s:
            break
    if isinstance(last, ActivityError):
        raise last
    return last
