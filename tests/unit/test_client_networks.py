"""What the budgets count as one client: an IPv4 address, an IPv6 /64."""

from __future__ import annotations

from heirloom.api.middleware.rate_limits import client_address, network_of


def test_ipv6_addresses_of_one_64_share_a_budget() -> None:
    first = network_of("2001:db8:1:2:aaaa::1")
    rotated = network_of("2001:db8:1:2:ffff:1234:5678:9abc")
    neighbour = network_of("2001:db8:1:3::1")
    assert first == rotated == "2001:db8:1:2::/64"
    assert neighbour == "2001:db8:1:3::/64"


def test_ipv4_addresses_count_alone_also_when_mapped_into_ipv6() -> None:
    assert network_of("203.0.113.7") == "203.0.113.7"
    assert network_of("::ffff:203.0.113.7") == "203.0.113.7"
    assert network_of("203.0.113.8") != network_of("203.0.113.7")


def test_the_scope_client_is_grouped_and_a_missing_one_is_unknown() -> None:
    assert client_address({"type": "http", "client": ("2001:db8::5", 443)}) == "2001:db8::/64"
    assert client_address({"type": "http", "client": None}) == "unknown"
    assert client_address({"type": "http", "client": ("testclient", 50000)}) == "testclient"
