"""The pace of a periodic workflow run: how many passes one run makes, and how often.

A periodic job whose pass is short (reconciliation, alerts, queue metrics) does not start a run
per pass: its Schedule starts a run rarely, and that run repeats its pass every `every_s` for
`window_s` (workflows/periodic.py). An idle stack then records a few runs an hour instead of
one per pass, and the work still happens every interval.
"""

from __future__ import annotations

from dataclasses import dataclass

# Sent by a worker that updates the schedule at its start: the run in progress ends after its
# current pass, so the next run (the schedule's, started at once) has the declared input.
FINISH_SIGNAL = "finish"


@dataclass(frozen=True)
class Pace:
    """One pass every `every_s` seconds until `window_s` seconds after the run began. The
    default (zeros) is a single pass, as a test or a start by hand wants."""

    every_s: float = 0.0
    window_s: float = 0.0

    @property
    def repeats(self) -> bool:
        return self.every_s > 0 and self.window_s > 0
