"""The dev stack's SMTP catcher: every message sent to it is kept as one .eml file in
HEIRLOOM_HOME/mail (newest last by name), where the developer (and the browser test) reads
the sign-up links. Nothing is relayed anywhere."""

from __future__ import annotations

import itertools
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from heirloom.config import Settings


class _Keep:
    """aiosmtpd handler: write each message to the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.counter = itertools.count()
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        with self.lock:
            name = f"{time.time_ns():020d}-{next(self.counter):04d}.eml"
        path = self.folder / name
        temporary = path.with_suffix(".part")
        temporary.write_bytes(envelope.original_content or envelope.content)
        temporary.rename(path)
        return "250 Message accepted for delivery"


def start_catcher(folder: Path, port: int, host: str = "127.0.0.1") -> Controller:
    """Start catching on host:port; stop it with `.stop()`."""
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(_Keep(folder), hostname=host, port=port)
    controller.start()
    return controller


def messages(folder: Path) -> list[EmailMessage]:
    """Every caught message, oldest first."""
    found = sorted(folder.glob("*.eml")) if folder.exists() else []
    parsed = [message_from_bytes(path.read_bytes(), policy=policy.default) for path in found]
    return [m for m in parsed if isinstance(m, EmailMessage)]


def serve_catcher(settings: Settings) -> None:
    """Catch mail at the dev stack's SMTP port until stopped."""
    controller = start_catcher(settings.mail_dir.resolve(), settings.devstack_smtp_port)
    try:
        threading.Event().wait()
    finally:
        controller.stop()
