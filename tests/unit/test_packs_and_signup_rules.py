"""What can be bought and who may sign up: pure rules in domain/packs.py and
domain/signup_rules.py."""

from __future__ import annotations

import pytest

from heirloom.domain.errors import InvalidRequest, SignupRefused
from heirloom.domain.packs import PACKS, credits_to_take_back, find_pack, tier_revoked
from heirloom.domain.signup_rules import check_signup_email
from heirloom.domain.tiers import Tier


def test_packs_have_unique_ids_positive_prices_and_one_sets_the_forever_tier() -> None:
    assert len({pack.id for pack in PACKS}) == len(PACKS)
    assert all(pack.price_minor > 0 and pack.currency == "usd" for pack in PACKS)
    assert [pack.id for pack in PACKS if pack.tier is Tier.FOREVER] == ["forever"]


def test_an_unknown_pack_is_a_request_error_naming_the_known_ones() -> None:
    with pytest.raises(InvalidRequest, match="credits-50"):
        find_pack(PACKS, "credits-7")


@pytest.mark.parametrize(
    ("reversed_minor", "taken"),
    [(0, 0), (1, 1), (900, 100), (1799, 200), (1800, 200), (5000, 200), (-5, 0)],
)
def test_the_paid_back_share_of_credits_is_rounded_up_and_capped(
    reversed_minor: int, taken: int
) -> None:
    assert credits_to_take_back(200, 1800, reversed_minor) == taken


def test_a_tier_goes_only_when_the_whole_price_was_paid_back() -> None:
    assert not tier_revoked(4900, 4899)
    assert tier_revoked(4900, 4900)


@pytest.mark.parametrize(
    "address",
    [
        "someone@mailinator.com",
        "x@sub.yopmail.com",
        "abuse@example.org",
        "no at sign",
        "a@b",
        "two@@example.org",
        "x" * 250 + "@example.org",
    ],
)
def test_disposable_role_and_malformed_addresses_are_refused(address: str) -> None:
    with pytest.raises(SignupRefused):
        check_signup_email(address)


def test_a_personal_address_is_accepted_trimmed_and_lower_cased() -> None:
    assert check_signup_email("  Ada.Lovelace+photos@Example.ORG ") == (
        "ada.lovelace+photos@example.org"
    )
