"""The gate's own processes. dlib holds the GIL for the whole of a detection or an embedding
(about 100 ms each), so run in the worker's process it would stall the event loop that polls
Temporal and heartbeats activities. The worker owns one `GateProcesses`: a small pool of
processes, started once with the face models loaded (when the worker starts, or on first
use), shut down with the worker.

It also keeps each input's profile (gate.py `profile_input`) for the checks of every try: the
profile is started when the input is prepared, so it is worked out while the model runs, and
a check finds it ready. A check that finds none (another worker prepared the input, or this
one restarted) works it out itself: the cache spares CPU, it never changes a verdict.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType

from heirloom.config import QualitySettings
from heirloom.domain.errors import HeirloomError
from heirloom.domain.quality import TryReport
from heirloom.services.quality.gate import check_output, profile_input
from heirloom.services.quality.profile import InputProfile

# Inputs whose profile is kept: a worker's jobs in flight, with room.
PROFILES_KEPT = 64


class GateProcesses:
    """A pool of `processes` processes running the quality gate, and the inputs' profiles."""

    def __init__(self, settings: QualitySettings, processes: int) -> None:
        self.settings = settings
        self.processes = processes
        self._lock = threading.Lock()
        self._profiles: OrderedDict[tuple[str, bool], Future[InputProfile]] = OrderedDict()
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the processes now (entering the context does), rather than on first use."""
        with self._lock:
            self._started()

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = self._new_pool()
        return self._pool

    def _new_pool(self) -> ProcessPoolExecutor:
        # Spawned, not forked: the worker's process has threads (Temporal's runtime, the
        # activity pool) that a fork would copy in whatever state they were in.
        pool = ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load_models,
            initargs=(self.settings.enabled, os.getpid()),
        )
        # Each submission starts a process until there are `processes`; the first check
        # then finds them with the models loaded.
        for _ in range(self.processes):
            pool.submit(_ready)
        return pool

    def profile_soon(self, input_key: str, prepared_input: bytes, *, identity: bool) -> None:
        """Start working out the profile of the input stored at `input_key`, without waiting."""
        if self.settings.enabled:
            self._profile(input_key, prepared_input, identity=identity)

    def check(
        self, input_key: str, prepared_input: bytes, model_output: bytes, *, identity: bool
    ) -> TryReport:
        """gate.py `check_output` in one of the gate's processes; blocks the calling thread
        (an activity's), never the event loop."""
        profile: InputProfile | None = None
        if self.settings.enabled:
            try:
                profile = self._profile(input_key, prepared_input, identity=identity).result()
            except (HeirloomError, BrokenProcessPool):
                # The check works it out again, and reports the error if it recurs.
                profile = None
        with self._lock:
            pool = self._started()
        try:
            return pool.submit(
                check_output,
                prepared_input,
                model_output,
                self.settings,
                identity=identity,
                profile=profile,
            ).result()
        except BrokenProcessPool:
            # A process died (killed, out of memory): start a new pool for the next attempt;
            # this one fails and Temporal tries the activity again.
            with self._lock:
                if self._pool is pool:
                    self._profiles.clear()
                    self._pool = self._new_pool()
            raise

    def _profile(
        self, input_key: str, prepared_input: bytes, *, identity: bool
    ) -> Future[InputProfile]:
        key = (input_key, identity)
        with self._lock:
            kept = self._profiles.get(key)
            if kept is not None and not (kept.done() and kept.exception() is not None):
                self._profiles.move_to_end(key)
                return kept
            started = self._started().submit(
                profile_input, prepared_input, self.settings, identity=identity
            )
            self._profiles[key] = started
            while len(self._profiles) > PROFILES_KEPT:
                self._profiles.popitem(last=False)
            return started

    def close(self) -> None:
        """Stop the processes, dropping queued work (the activities waiting on it are ending
        with the worker)."""
        with self._lock:
            self._profiles.clear()
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def __enter__(self) -> GateProcesses:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


# How often a gate process looks whether the worker that started it is still there.
PARENT_CHECK_S = 1.0


def _load_models(enabled: bool, worker: int) -> None:
    """Load dlib's models as a process starts (about 30 MB, 0.3 s), not on its first check;
    and end this process when its worker (process id `worker`) is gone."""
    _exit_with_parent(worker)
    if enabled:
        from heirloom.services.quality.faces import face_models

        face_models()


def _exit_with_parent(parent: int) -> None:
    """A worker killed without warning (SIGKILL, the OOM killer) cannot shut its pool down:
    its gate processes would wait for work forever. Each one watches its parent and exits
    within `PARENT_CHECK_S` of it going (it is then re-parented, so its parent id changes),
    at once if the worker died while this process was still starting."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="gate-parent-watch", daemon=True).start()


def _ready() -> None:
    """Nothing: submitted to make the pool start a process."""
