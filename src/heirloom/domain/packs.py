"""What can be bought, as data: credit packs and the one-time forever tier.

Prices are in the currency's minor units (cents), as Stripe counts them. A purchase adds its
credits to the ledger; a pack with a `tier` also moves its buyer to that tier. A refund or a
dispute takes back the share of the credits that was paid back, and a pack's tier once the
whole price was paid back or disputed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from heirloom.domain.errors import InvalidRequest
from heirloom.domain.tiers import Tier


class Pack(BaseModel):
    """One thing on sale: its credits, its price and the tier it sets (if any)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=32, description="What POST /v1/checkout names.")
    name: str = Field(description="What the buyer sees at checkout and on the receipt.")
    credits: int = Field(ge=0, description="Credits the purchase adds.")
    price_minor: int = Field(gt=0, description="Price in the currency's minor units (cents).")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217, lower case.")
    tier: Tier | None = Field(default=None, description="The tier a purchase sets (None: kept).")


PACKS: tuple[Pack, ...] = (
    Pack(id="credits-50", name="50 credits", credits=50, price_minor=500, currency="usd"),
    Pack(id="credits-200", name="200 credits", credits=200, price_minor=1800, currency="usd"),
    Pack(id="credits-1000", name="1000 credits", credits=1000, price_minor=8000, currency="usd"),
    Pack(
        id="forever",
        name="Forever tier and 100 credits",
        credits=100,
        price_minor=4900,
        currency="usd",
        tier=Tier.FOREVER,
    ),
)


def find_pack(packs: tuple[Pack, ...], pack_id: str) -> Pack:
    """The pack with this id; an unknown id is the caller's mistake."""
    for pack in packs:
        if pack.id == pack_id:
            return pack
    known = ", ".join(pack.id for pack in packs)
    raise InvalidRequest(f"No pack named {pack_id!r}; choose one of: {known}.")


def credits_to_take_back(credits: int, price_minor: int, reversed_minor: int) -> int:
    """The credits owed back once `reversed_minor` of the price was refunded or disputed:
    the paid-back share, rounded up, so a full reversal takes back every credit."""
    reversed_minor = min(max(reversed_minor, 0), price_minor)
    return -(-credits * reversed_minor // price_minor)


def tier_revoked(price_minor: int, reversed_minor: int) -> bool:
    """A pack's tier goes once its whole price was paid back or disputed."""
    return reversed_minor >= price_minor
