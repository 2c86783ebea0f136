"""Whether a loopback port answers: the local stack waits for its servers with it."""

from __future__ import annotations

import socket


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
