"""`heirloom dev`: the whole stack on one machine, from one command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import BinaryIO

import httpx

from heirloom.config import Settings
from heirloom.db import migrate
from heirloom.devstack.ports import port_open
from heirloom.devstack.temporal_server import TemporalDevServer
from heirloom.domain.tiers import Tier
from heirloom.services.accounts.keys import new_api_key
from heirloom.services.accounts.users import ROLE_ADMIN, ROLE_USER
from heirloom.services.context import Services

DEV_USER_EMAIL = "dev@heirloom.local"
DEV_USER_CREDITS = 20
ADMIN_EMAIL = "admin@heirloom.local"


def prepare_state(settings: Settings) -> None:
    """Create the state directory, migrate the database and seed the dev and admin users."""
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    services = Services.build(settings, pool_size=1)
    try:
        for email, tier, credits, role, key_file in (
            (DEV_USER_EMAIL, Tier.FREE, DEV_USER_CREDITS, ROLE_USER, settings.dev_api_key_file),
            (ADMIN_EMAIL, Tier.FOREVER, 0, ROLE_ADMIN, settings.admin_api_key_file),
        ):
            api_key = _read_or_create_key(key_file)
            services.accounts.ensure(
                email=email, tier=tier, credits=credits, role=role, api_key=api_key
            )
    finally:
        services.close()


def _read_or_create_key(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    key = new_api_key()
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


class DevStack:
    """Starts Temporal, the local RunPod endpoint, the mail catcher, the Stripe stand-in, a
    worker and the API; stops them all."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.temporal: TemporalDevServer | None = None

    def start(self) -> None:
        s = self.settings
        host, port = s.temporal_address.rsplit(":", 1)
        self.temporal = TemporalDevServer(
            host=host,
            port=int(port),
            ui_port=s.temporal_ui_port,
            db_file=(s.home / "temporal.db").resolve(),
            log=self._log("temporal"),
        )
        print(f"starting Temporal dev server on {s.temporal_address} ...", flush=True)
        self.temporal.start()
        self._spawn("runpod-endpoint", ["runpod-endpoint"])
        self._wait_port("runpod-endpoint", s.devstack_runpod_host, s.devstack_runpod_port)
        self._spawn("mail-catcher", ["mail-catcher"])
        self._wait_port("mail-catcher", "127.0.0.1", s.devstack_smtp_port)
        self._spawn("stripe-standin", ["stripe-standin"])
        self._wait_port("stripe-standin", "127.0.0.1", s.devstack_stripe_port)
        self._spawn("worker", ["worker"])
        self._spawn("api", ["api"])
        self._wait_http("api", f"{s.api_base_url}/healthz")

    def _log(self, name: str) -> BinaryIO:
        return (self.settings.logs_dir / f"{name}.log").open("ab")

    def _spawn(self, name: str, args: list[str]) -> None:
        log = self._log(name)
        env = {**os.environ, "HEIRLOOM_HOME": str(self.settings.home.resolve())}
        # Local webhook receivers listen on loopback; production refuses private targets.
        env.setdefault("HEIRLOOM_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
        # Stripe and a mail server are the local stand-in and catcher, unless set otherwise.
        env.setdefault("HEIRLOOM_STRIPE_API_BASE", self.settings.devstack_stripe_base_url)
        env.setdefault("HEIRLOOM_SMTP_HOST", "127.0.0.1")
        env.setdefault("HEIRLOOM_SMTP_PORT", str(self.settings.devstack_smtp_port))
        process = subprocess.Popen(
            [sys.executable, "-m", "heirloom.cli", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        self.children.append((name, process))

    def _wait_port(self, name: str, host: str, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not port_open(host, port):
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not open {host}:{port}; see its log")
            time.sleep(0.1)

    def _wait_http(self, name: str, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer {url}; see its log")
            time.sleep(0.2)

    def _check_alive(self) -> None:
        for name, process in self.children:
            code = process.poll()
            if code is not None:
                log = self.settings.logs_dir / f"{name}.log"
                raise RuntimeError(f"{name} exited with code {code}; see {log}")

    def wait(self) -> None:
        """Block until Ctrl-C / SIGTERM or until a child dies."""
        while True:
            self._check_alive()
            time.sleep(0.5)

    def stop(self) -> None:
        for _name, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, process in reversed(self.children):
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.temporal is not None:
            self.temporal.stop()


def run_dev(settings: Settings) -> int:
    """Run the stack in the foreground until Ctrl-C; returns the exit code."""
    prepare_state(settings)
    stack = DevStack(settings)

    def _terminate(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a launcher started in the background inherits an ignored SIGINT.
    signal.signal(signal.SIGINT, _terminate)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        stack.start()
        s = settings
        ui_host = s.temporal_address.rsplit(":", 1)[0]
        print(
            "\nHeirloom is running:\n"
            f"  API              {s.api_base_url}  (docs: {s.api_base_url}/docs)\n"
            f"  Web app          {s.api_base_url}/  (sign in with the dev or admin key)\n"
            f"  Temporal         {s.temporal_address}\n"
            f"  Temporal Web UI  http://{ui_host}:{s.temporal_ui_port}\n"
            f"  RunPod (local)   {s.devstack_runpod_base_url}\n"
            f"  Stripe (local)   {s.devstack_stripe_base_url}  (pay pages: /pay/<session>)\n"
            f"  emails (caught)  {s.mail_dir.resolve()}  (one .eml file each, SMTP port "
            f"{s.devstack_smtp_port})\n"
            f"  state            {s.home.resolve()}  (logs in {s.logs_dir.resolve()})\n"
            f"  dev API key      {s.dev_api_key_file.resolve()}\n"
            f"  admin API key    {s.admin_api_key_file.resolve()}\n"
            "\nTry: heirloom submit photo.jpg --operations restore --wait --out restored.jpg\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        stack.wait()
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 1
    finally:
        # A second Ctrl-C or SIGTERM while stopping must not cut the clean-up short and leave
        # children (the Temporal dev server) running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    return 0
