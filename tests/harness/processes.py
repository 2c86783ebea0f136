"""The product as production runs it, one child process per part, for benchmarks.

`process_stack` starts the embedded Temporal dev server (on a SQLite file), then
`heirloom runpod-endpoint`, `heirloom worker` and `heirloom api` on one SQLite database and local
storage, and yields what a benchmark drives and meters: URLs, the process ids, the services.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from heirloom.config import Settings
from heirloom.db import migrate
from heirloom.devstack.ports import port_open
from heirloom.devstack.temporal_server import TemporalDevServer
from heirloom.services.context import Services
from tests.harness.serving import free_port
from tests.harness.workers import WORKER_READY_LINE

RUNPOD_KEY = "stack-key"


@contextlib.contextmanager
def temporal_server(home: Path) -> Iterator[TemporalDevServer]:
    """src's dev server as shipped, on a free port, headless, on a SQLite file under `home`."""
    server = TemporalDevServer(port=free_port(), ui_port=None, db_file=home / "temporal.db")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def child_process(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    ready: Callable[[], bool],
    log: Path,
    timeout_s: float = 60.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """`argv` with extra `env`, output to `log`, waited for until `ready()`; stopped on exit."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(argv),
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if process.poll() is not None:
                raise RuntimeError(f"{argv[1:]} exited {process.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{argv[1:]} not ready after {timeout_s}s; see {log}")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def heirloom_process(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    ready: Callable[[], bool],
    log: Path,
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """`python -m heirloom.cli COMMAND` with HEIRLOOM_* env (see child_process)."""
    argv = [sys.executable, "-m", "heirloom.cli", *command]
    return child_process(argv, env, ready=ready, log=log)


@dataclass
class ProcessStack:
    """A running `process_stack`: its server, URLs and process ids (api, worker, temporal,
    runpod), and services on its database for setting up and reading what the load did."""

    server: TemporalDevServer
    services: Services
    api_url: str
    runpod_url: str
    pids: dict[str, int]


@contextlib.contextmanager
def process_stack(
    home: Path,
    *,
    gpus: int,
    worker: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    database_url: str | None = None,
) -> Iterator[ProcessStack]:
    """The stack in child processes under `home`: the endpoint with `gpus` simulated GPUs,
    `heirloom worker` with the arguments `worker` (its GPU slots, and the pool, are the GPUs)
    and the API. `env` adds or replaces HEIRLOOM_* variables for all three. The database is a
    SQLite file under `home` unless `database_url` names another (an empty one: migrated here)."""
    with temporal_server(home) as server:
        database_url = database_url or f"sqlite:///{home / 'heirloom.db'}"
        migrate.upgrade(database_url)
        runpod_port, api_port = free_port(), free_port()
        runpod_url, api_url = f"http://127.0.0.1:{runpod_port}", f"http://127.0.0.1:{api_port}"
        variables = {
            "HEIRLOOM_HOME": str(home),
            "HEIRLOOM_DATABASE_URL": database_url,
            "HEIRLOOM_TEMPORAL_ADDRESS": server.address,
            "HEIRLOOM_RUNPOD_API_KEY": RUNPOD_KEY,
            "HEIRLOOM_RUNPOD_BASE_URL": f"{runpod_url}/v2",
            "HEIRLOOM_DEVSTACK_RUNPOD_PORT": str(runpod_port),
            "HEIRLOOM_DEVSTACK_RUNPOD_WORKERS": str(gpus),
            # The worker's GPU slots are the pool (admission control, README "The GPU queue").
            "HEIRLOOM_WORKER_GPU_SLOTS": str(gpus),
            "HEIRLOOM_GPU_POOL_SIZE": str(gpus),
            "HEIRLOOM_API_PORT": str(api_port),
            # The load comes from one address with a few keys: measure the service, not the
            # abuse budgets (they are tested in tests/integration/test_rate_limits.py).
            "HEIRLOOM_RATE_LIMITS_ENABLED": "false",
            **(env or {}),
        }
        services = Services.build(Settings(home=home, database_url=database_url), pool_size=2)
        try:
            with (
                heirloom_process(
                    ["runpod-endpoint"],
                    variables,
                    ready=lambda: port_open("127.0.0.1", runpod_port),
                    log=home / "runpod.log",
                ) as runpod,
                heirloom_process(
                    ["worker", *worker],
                    variables,
                    ready=lambda: WORKER_READY_LINE in _text(home / "worker.log"),
                    log=home / "worker.log",
                ) as worker_process,
                heirloom_process(
                    ["api"], variables, ready=lambda: _healthy(api_url), log=home / "api.log"
                ) as api,
            ):
                assert server.process is not None
                pids = {
                    "api": api.pid,
                    "worker": worker_process.pid,
                    "temporal": server.process.pid,
                    "runpod": runpod.pid,
                }
                yield ProcessStack(server, services, api_url, runpod_url, pids)
        finally:
            services.close()


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
