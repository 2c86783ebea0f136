"""The webhook address rule: which resolved addresses a delivery may connect to."""

from __future__ import annotations

import ipaddress

import pytest

from heirloom.domain.errors import InvalidRequest
from heirloom.services.events.pinning import refusal, resolve_target


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "100.64.0.1",  # carrier-grade NAT
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fc00::1",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::808:808",  # NAT64 of a public address: refused all the same
        "64:ff9b:1::a00:1",  # NAT64 local-use prefix
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:808:808::1",  # 6to4 of a public address
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:8.8.8.8",
        "::127.0.0.1",  # IPv4-compatible
        "::ffff:0:a00:1",  # IPv4-translated
        "224.0.0.1",
        "0.0.0.0",
    ],
)
def test_private_and_embedding_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_one_private_address_among_public_ones_refuses_the_name() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "2002:a00:1::1"]

    with pytest.raises(InvalidRequest, match="embeds another"):
        resolve_target("https://hooks.example.com/x", allow_private=False, resolver=resolver)


def test_the_target_connects_to_the_checked_address_and_names_the_host() -> None:
    calls: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return ["2606:4700:4700::1111", "93.184.216.34"]

    target = resolve_target(
        "https://hooks.example.com:8443/in?x=1", allow_private=False, resolver=resolver
    )
    assert calls == [("hooks.example.com", 8443)]
    assert target.pinned_url == "https://[2606:4700:4700::1111]:8443/in?x=1"
    assert target.host_header == "hooks.example.com:8443"
    plain = resolve_target("http://hooks.example.com/", allow_private=False, resolver=resolver)
    assert plain.host_header == "hooks.example.com"
    assert plain.port == 80


def test_credentials_in_the_url_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="user name"):
        resolve_target(
            "https://me:pw@hooks.example.com/", allow_private=False, resolver=lambda h, p: []
        )
