"""`heirloom worker` whose account erasure pauses, alive and heartbeating, after each job's files.

A test-only entry point (`python -m tests.harness.slow_erasure PAUSE_S worker ...`): the pause
lets a test SIGKILL the worker inside a long erasure step. The product has no such hook.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from heirloom import cli
from heirloom.services.privacy.erasure import Erasure

_SLICE_S = 0.2


def slow_down(pause_s: float) -> None:
    """Make every `Erasure.delete_files` in this process pause after each job's files."""
    delete_files = Erasure.delete_files

    def paused(
        self: Erasure, user_id: str, progress: Callable[[int], None] = lambda _deleted: None
    ) -> int:
        def progress_then_pause(deleted: int) -> None:
            progress(deleted)
            deadline = time.monotonic() + pause_s
            while time.monotonic() < deadline:
                time.sleep(min(_SLICE_S, pause_s))
                progress(deleted)

        return delete_files(self, user_id, progress_then_pause)

    Erasure.delete_files = paused  # type: ignore[method-assign]


if __name__ == "__main__":
    slow_down(float(sys.argv[1]))
    sys.exit(cli.main(sys.argv[2:]))
