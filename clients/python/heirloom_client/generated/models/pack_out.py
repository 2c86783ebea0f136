from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.tier import Tier, check_tier

T = TypeVar("T", bound="PackOut")


@_attrs_define
class PackOut:
    """A credit pack or the forever tier, as sold.

    Attributes:
        credits_ (int):
        currency (str):
        id (str):
        name (str):
        price_minor (int): Price in the currency's minor units (cents).
        tier (None | Tier): The tier a purchase sets (null: credits only).
    """

    credits_: int
    currency: str
    id: str
    name: str
    price_minor: int
    tier: None | Tier
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        credits_ = self.credits_

        currency = self.currency

        id = self.id

        name = self.name

        price_minor = self.price_minor

        tier: None | str
        if isinstance(self.tier, str):
            tier = self.tier
        else:
            tier = self.tier

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "credits": credits_,
                "currency": currency,
                "id": id,
                "name": name,
                "price_minor": price_minor,
                "tier": tier,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        credits_ = d.pop("credits")

        currency = d.pop("currency")

        id = d.pop("id")

        name = d.pop("name")

        price_minor = d.pop("price_minor")

        def _parse_tier(data: object) -> None | Tier:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                tier_type_0 = check_tier(data)

                return tier_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Tier, data)

        tier = _parse_tier(d.pop("tier"))

        pack_out = cls(
            credits_=credits_,
            currency=currency,
            id=id,
            name=name,
            price_minor=price_minor,
            tier=tier,
        )

        pack_out.additional_properties = d
        return pack_out

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
