"""Caps on open live-status streams (SSE and WebSocket): per user and per API process.

A stream holds a slot from before it starts until it ends; a slot past a cap is refused with
`TooManyStreams` (429) naming which cap, so one user cannot hold the process's streams and no
flood of streams exhausts a process. The counts are this process's: with N API processes a
user may hold N times `per_user` streams at most.
"""

from __future__ import annotations

import threading
from collections import Counter

from heirloom.domain.errors import TooManyStreams


class StreamSlot:
    """One open stream's place; `release` gives it back (repeating it is harmless)."""

    def __init__(self, caps: StreamCaps, user_id: str) -> None:
        self._caps = caps
        self.user_id = user_id
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._caps._release(self.user_id)


class StreamCaps:
    """Counts the open streams of this process, in all and per user."""

    def __init__(self, *, per_user: int, per_process: int) -> None:
        self.per_user = per_user
        self.per_process = per_process
        self._lock = threading.Lock()
        self._by_user: Counter[str] = Counter()
        self._total = 0

    def acquire(self, user_id: str) -> StreamSlot:
        """A slot for one more stream of `user_id`, or `TooManyStreams`."""
        with self._lock:
            if self._by_user[user_id] >= self.per_user:
                raise TooManyStreams(
                    f"You already have {self._by_user[user_id]} live streams open (at most "
                    f"{self.per_user}); close one, or poll GET /v1/jobs/{{id}}, then try again."
                )
            if self._total >= self.per_process:
                raise TooManyStreams(
                    "This server holds as many live streams as it can; poll GET /v1/jobs/{id} "
                    "or try again in a few seconds."
                )
            self._by_user[user_id] += 1
            self._total += 1
        return StreamSlot(self, user_id)

    def open_streams(self, user_id: str | None = None) -> int:
        with self._lock:
            return self._total if user_id is None else self._by_user[user_id]

    def _release(self, user_id: str) -> None:
        with self._lock:
            self._total -= 1
            self._by_user[user_id] -= 1
            if self._by_user[user_id] <= 0:
                del self._by_user[user_id]
