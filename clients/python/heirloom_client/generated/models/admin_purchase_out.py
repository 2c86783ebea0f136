from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.tier import Tier, check_tier

T = TypeVar("T", bound="AdminPurchaseOut")


@_attrs_define
class AdminPurchaseOut:
    """
    Attributes:
        created_at (datetime.datetime):
        credits_ (int):
        credits_taken_back (int):
        currency (str):
        id (str):
        pack_id (str):
        paid_at (datetime.datetime | None):
        paid_minor (int):
        price_minor (int):
        reversed_minor (int): Refunded or disputed, in minor units.
        status (str): open, paid, refunded or disputed
        tier (None | Tier):
        user_id (str):
    """

    created_at: datetime.datetime
    credits_: int
    credits_taken_back: int
    currency: str
    id: str
    pack_id: str
    paid_at: datetime.datetime | None
    paid_minor: int
    price_minor: int
    reversed_minor: int
    status: str
    tier: None | Tier
    user_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        credits_ = self.credits_

        credits_taken_back = self.credits_taken_back

        currency = self.currency

        id = self.id

        pack_id = self.pack_id

        paid_at: None | str
        if isinstance(self.paid_at, datetime.datetime):
            paid_at = self.paid_at.isoformat()
        else:
            paid_at = self.paid_at

        paid_minor = self.paid_minor

        price_minor = self.price_minor

        reversed_minor = self.reversed_minor

        status = self.status

        tier: None | str
        if isinstance(self.tier, str):
            tier = self.tier
        else:
            tier = self.tier

        user_id = self.user_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "credits": credits_,
                "credits_taken_back": credits_taken_back,
                "currency": currency,
                "id": id,
                "pack_id": pack_id,
                "paid_at": paid_at,
                "paid_minor": paid_minor,
                "price_minor": price_minor,
                "reversed_minor": reversed_minor,
                "status": status,
                "tier": tier,
                "user_id": user_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        credits_ = d.pop("credits")

        credits_taken_back = d.pop("credits_taken_back")

        currency = d.pop("currency")

        id = d.pop("id")

        pack_id = d.pop("pack_id")

        def _parse_paid_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                paid_at_type_0 = datetime.datetime.fromisoformat(data)

                return paid_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        paid_at = _parse_paid_at(d.pop("paid_at"))

        paid_minor = d.pop("paid_minor")

        price_minor = d.pop("price_minor")

        reversed_minor = d.pop("reversed_minor")

        status = d.pop("status")

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

        user_id = d.pop("user_id")

        admin_purchase_out = cls(
            created_at=created_at,
            credits_=credits_,
            credits_taken_back=credits_taken_back,
            currency=currency,
            id=id,
            pack_id=pack_id,
            paid_at=paid_at,
            paid_minor=paid_minor,
            price_minor=price_minor,
            reversed_minor=reversed_minor,
            status=status,
            tier=tier,
            user_id=user_id,
        )

        admin_purchase_out.additional_properties = d
        return admin_purchase_out

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
