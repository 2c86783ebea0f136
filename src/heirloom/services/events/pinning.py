"""Where a webhook may go, and one bounded POST to the address that was checked.

The host name is resolved once; every address it resolves to must be public (unless private
targets are allowed), and the connection goes to that checked address with the name in the
Host header (and as the TLS server name), so a second resolution can never move it elsewhere
(DNS rebinding). Addresses that embed another address (NAT64, 6to4, Teredo, IPv4-mapped or
-compatible) are refused outright: the embedded one may be private. The answer is streamed and
at most a few KiB are kept; the whole exchange has one deadline.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpcore
import httpx

from heirloom.domain.errors import InvalidRequest

# (host, port) -> the addresses it resolves to, as text. Tests pass one they control.
Resolver = Callable[[str, int], list[str]]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# What httpcore passes to setsockopt: (level, option, value).
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)

# How much of a receiver's answer is ever kept: the rest is never read.
ANSWER_KEEP_BYTES = 4096
_READ_CHUNK = 1024

# Networks whose addresses carry another (IPv4) address inside: refused whatever they embed.
_EMBEDDING_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "64:ff9b::/96",  # NAT64, well-known prefix
        "64:ff9b:1::/48",  # NAT64, local-use prefix
        "2002::/16",  # 6to4
        "2001::/32",  # Teredo
        "::ffff:0:0/96",  # IPv4-mapped
        "::/96",  # IPv4-compatible (deprecated), also :: and ::1
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
    )
)


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (getaddrinfo), TCP addresses only."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def refusal(address: IPAddress) -> str | None:
    """Why a webhook may not go to this address, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in _EMBEDDING_NETWORKS):
            return "an address that embeds another (NAT64, 6to4, Teredo, IPv4-mapped)"
        if address.scope_id:
            return "a scoped (link-local) address"
    if not address.is_global or address.is_multicast:
        return "a private or local address"
    return None


@dataclass(frozen=True)
class Target:
    """A checked webhook URL: where to connect (the address) and what to ask for (the name)."""

    url: str
    scheme: str
    host: str
    port: int
    address: str

    @property
    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if ":" in self.address else self.address
        path = parts.path or "/"
        return urlunsplit((self.scheme, f"{literal}:{self.port}", path, parts.query, ""))

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def resolve_target(url: str, *, allow_private: bool, resolver: Resolver) -> Target:
    """Check `url` and resolve its host once; InvalidRequest for what a webhook may not reach."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidRequest("The webhook URL is not a valid URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("The webhook URL must be an http or https URL with a host name.")
    if parts.username or parts.password:
        raise InvalidRequest("The webhook URL must not carry a user name or password.")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        texts = [str(literal)]
    else:
        try:
            texts = resolver(host, port)
        except (OSError, UnicodeError, ValueError):
            # UnicodeError: a label IDNA cannot encode (too long, empty); ValueError: a bad port.
            raise InvalidRequest("The webhook host name does not resolve.") from None
    addresses: list[IPAddress] = []
    for text in texts:
        try:
            addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            raise InvalidRequest("The webhook host name does not resolve.") from None
    if not addresses:
        raise InvalidRequest("The webhook host name does not resolve.")
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise InvalidRequest(
                    f"The webhook host {host} resolves to {reason}; "
                    "webhooks only go to public addresses."
                )
    return Target(url=url, scheme=parts.scheme, host=host, port=port, address=str(addresses[0]))


def _remaining(deadline: float, timeout: float | None, expired: type[Exception]) -> float:
    """The time one socket operation may take: its own timeout, capped by the deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the delivery's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write ends by the deadline: a receiver trickling its
    headers or body a byte at a time cannot hold the worker past it."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(
            max_bytes, _remaining(self._deadline, timeout, httpcore.ReadTimeout)
        )

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(self._deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context,
            server_hostname,
            _remaining(self._deadline, timeout, httpcore.ConnectTimeout),
        )
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Opens TCP connections whose operations all end by one deadline."""

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline
        self._sync = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._sync.connect_tcp(
            host,
            port,
            _remaining(self._deadline, timeout, httpcore.ConnectTimeout),
            local_address,
            socket_options,
        )
        return _DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport over one connection whose socket operations end by the deadline."""

    def __init__(self, deadline: float, ssl_context: ssl.SSLContext | None) -> None:
        super().__init__(retries=0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=1,
            max_keepalive_connections=0,
            network_backend=_DeadlineBackend(deadline),
        )


@dataclass(frozen=True)
class Answer:
    """How one bounded POST went: the status (None when no answer came) or why not."""

    status: int | None
    error: str | None
    kept: bytes = b""


def post_bounded(
    target: Target,
    body: bytes,
    headers: Mapping[str, str],
    *,
    deadline_s: float,
    keep_bytes: int = ANSWER_KEEP_BYTES,
    ssl_context: ssl.SSLContext | None = None,
) -> Answer:
    """POST `body` to the checked address, reading at most `keep_bytes` of the answer, all
    within `deadline_s`. Over https the certificate is verified against the host name (sent
    as SNI), trusting `ssl_context` (default: the system's CAs). Errors are described without
    the receiver's own words."""
    deadline = time.monotonic() + deadline_s
    sent_headers = dict(headers) | {"Host": target.host_header, "Accept-Encoding": "identity"}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    kept = bytearray()
    try:
        with httpx.Client(
            transport=_DeadlineTransport(deadline, ssl_context),
            timeout=httpx.Timeout(deadline_s),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: the checked address is the peer
        ) as client:
            request = client.build_request(
                "POST",
                target.pinned_url,
                content=body,
                headers=sent_headers,
                extensions=extensions,
            )
            response = client.send(request, stream=True)
            try:
                # Raw bytes: nothing is decompressed, so a small answer cannot grow.
                for chunk in response.iter_raw(_READ_CHUNK):
                    kept += chunk[: keep_bytes - len(kept)]
                    if len(kept) >= keep_bytes or time.monotonic() > deadline:
                        break
            finally:
                response.close()  # an unread rest is dropped with the connection
            return Answer(status=response.status_code, error=None, kept=bytes(kept))
    except httpx.TimeoutException:
        return Answer(status=None, error="the receiver did not answer in time")
    except httpx.HTTPError as err:
        return Answer(status=None, error=f"could not reach the receiver ({type(err).__name__})")
