from typing import Literal

Tier = Literal["forever", "free", "paid"]

TIER_VALUES: set[Tier] = {
    "forever",
    "free",
    "paid",
}


def check_tier(value: str) -> Tier:
    if value in TIER_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {TIER_VALUES!r}")
