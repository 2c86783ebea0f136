"""One change feed per API process: a bounded query rate for any number of open streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import col, select

from heirloom.db.models import Job
from heirloom.domain.jobs import JobStatus
from heirloom.services.events.event_log import NOTIFY_CHANNEL, Event, EventLog, job_state

log = logging.getLogger(__name__)

# One read returns at most this many events; a fuller backlog is read again at once.
_BATCH = 1000


@dataclass(eq=False)
class Subscription:
    """An open stream's inbox: the events of one job, or of all of one user's jobs."""

    user_id: str
    job_id: str | None = None
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)


class ChangeFeed:
    """Reads the events table once per interval for every stream of this process and fans out.

    On PostgreSQL a LISTEN connection wakes the reader as soon as a change commits, but reads
    never come closer together than `min_gap_s`, so the query rate stays bounded whatever the
    write rate or the number of streams. SQLite reads every `interval_s`.
    """

    def __init__(self, log_: EventLog, *, interval_s: float, min_gap_s: float) -> None:
        self.events = log_
        self.interval_s = interval_s
        self.min_gap_s = min_gap_s
        self.queries = 0
        # Streams by the key they follow: fan-out costs per event, not per open stream.
        self._by_job: dict[str, set[Subscription]] = {}
        self._by_user: dict[str, set[Subscription]] = {}
        self._last_id = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: threading.Thread | None = None
        self._stopping = threading.Event()
        self._listening = threading.Event()

    async def start(self) -> None:
        self._last_id = await asyncio.to_thread(self.events.latest_id)
        self._task = asyncio.create_task(self._run(), name="change-feed")
        if self.events.db.engine.dialect.name == "postgresql":
            loop = asyncio.get_running_loop()
            self._listener = threading.Thread(
                target=self._listen, args=(loop,), name="change-feed-listen", daemon=True
            )
            self._listener.start()
            # Changes committed before LISTEN would wait for the interval; start listening first.
            await asyncio.to_thread(self._listening.wait, 10)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None:
            await asyncio.to_thread(self._listener.join, 5)

    def subscribe(self, user_id: str, job_id: str | None = None) -> Subscription:
        """Register before reading the backlog: every later event reaches the inbox."""
        sub = Subscription(user_id=user_id, job_id=job_id)
        index, key = self._index(sub)
        index.setdefault(key, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        index, key = self._index(sub)
        subs = index.get(key, set())
        subs.discard(sub)
        if not subs:
            index.pop(key, None)

    @property
    def streams(self) -> int:
        return sum(map(len, self._by_job.values())) + sum(map(len, self._by_user.values()))

    def _index(self, sub: Subscription) -> tuple[dict[str, set[Subscription]], str]:
        if sub.job_id is not None:
            return self._by_job, sub.job_id
        return self._by_user, sub.user_id

    async def follow(
        self, user_id: str, job: Job | None = None, *, after_id: int | None = None
    ) -> AsyncIterator[Event]:
        """A stream's events: a snapshot (or, resuming after an id, every event missed), then
        each change; a job's stream ends after its final state. The caller checked ownership.
        """
        sub = self.subscribe(user_id, job.id if job is not None else None)
        try:
            first = await asyncio.to_thread(self._first_events, user_id, job, after_id)
            sent = after_id or 0
            for event in first:
                sent = max(sent, event.id)
                yield event
                if job is not None and event.final:
                    return
            if job is not None and after_id is not None:
                # A client resuming after the job's final event has everything already. Asked
                # of the latest event, not of the row: a row read just after the job ended
                # says final while its final event is still to come (a loaded run's stream
                # ended without it).
                last = await asyncio.to_thread(self.events.latest_of_job, job.id)
                if last is not None and last.final and last.id <= sent:
                    return
            while True:
                event = await sub.queue.get()
                if event.id <= sent:
                    continue
                sent = event.id
                yield event
                if job is not None and event.final:
                    return
        finally:
            self.unsubscribe(sub)

    def _first_events(self, user_id: str, job: Job | None, after_id: int | None) -> list[Event]:
        if job is not None:
            if after_id is None:
                return [self.events.job_snapshot(job)]
            return self.events.for_job(job.id, after_id)
        if after_id is not None:
            # Every missed event, however many: the live inbox only holds what came after.
            missed: list[Event] = []
            while page := self.events.for_user(user_id, after_id, limit=_BATCH):
                missed += page
                after_id = page[-1].id
                if len(page) < _BATCH:
                    break
            return missed
        return [self._user_snapshot(user_id)]

    def _user_snapshot(self, user_id: str) -> Event:
        """The caller's unfinished jobs now, under the feed id read just before them."""
        latest = self.events.latest_id()
        with self.events.db.session() as session:
            unfinished = [s.value for s in JobStatus if not s.is_final]
            rows = session.exec(
                select(Job)
                .where(col(Job.user_id) == user_id, col(Job.status).in_(unfinished))
                .order_by(col(Job.created_at))
            )
            jobs = [job_state(row) for row in rows]
        return Event(id=latest, job_id="", user_id=user_id, type="snapshot", state={"jobs": jobs})

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self._read()
            except Exception:  # a database hiccup must not end every stream of the process
                log.exception("change feed read failed; retrying next interval")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await self._wake.wait()
            self._wake.clear()
            gap = self.min_gap_s - (loop.time() - started)
            if gap > 0:
                await asyncio.sleep(gap)

    async def _read(self) -> None:
        while True:
            self.queries += 1
            batch = await asyncio.to_thread(self.events.after, self._last_id, limit=_BATCH)
            for event in batch:
                for sub in self._by_job.get(event.job_id, ()):
                    sub.queue.put_nowait(event)
                for sub in self._by_user.get(event.user_id, ()):
                    sub.queue.put_nowait(event)
                self._last_id = event.id
            if len(batch) < _BATCH:
                return

    def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        """Block on PostgreSQL notifications in a thread; each one wakes the reader."""
        while not self._stopping.is_set():
            try:
                with self.events.db.engine.connect() as conn:
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                    conn.execute(sa.text(f"LISTEN {NOTIFY_CHANNEL}"))
                    raw = conn.connection.driver_connection
                    assert raw is not None
                    self._listening.set()
                    # Anything committed while (re)connecting is read at once.
                    loop.call_soon_threadsafe(self._wake.set)
                    while not self._stopping.is_set():
                        for _ in raw.notifies(timeout=1.0, stop_after=1):
                            loop.call_soon_threadsafe(self._wake.set)
            except Exception:
                log.exception("change feed LISTEN connection lost; reconnecting")
                self._stopping.wait(1.0)
