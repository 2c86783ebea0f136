"""Storage whose writes of chosen keys wait until the test releases them: a step held at the
moment a race is decided (a cancel during post-processing, an upload landing after erasure)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from heirloom.services.context import Services
from heirloom.services.storage.base import Storage

# A held write that nobody releases goes on after this, so a failed test cannot hang the run.
HOLD_LIMIT_S = 60.0


class HeldWrites:
    """Wraps a storage: `put` of a key that `held` matches signals `started`, then waits."""

    def __init__(self, inner: Storage, held: Callable[[str], bool]) -> None:
        self.inner = inner
        self.held = held
        self.started = threading.Event()
        self.release = threading.Event()

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        if self.held(key):
            self.started.set()
            self.release.wait(HOLD_LIMIT_S)
        self.inner.put(key, data, content_type=content_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@contextmanager
def holding_writes(services: Services, held: Callable[[str], bool]) -> Iterator[HeldWrites]:
    """`services.storage` holds the matching writes until released (or the block ends)."""
    original = services.storage
    holder = HeldWrites(original, held)
    services.storage = holder
    try:
        yield holder
    finally:
        holder.release.set()
        services.storage = original
