from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.tier import Tier, check_tier

T = TypeVar("T", bound="SignupConfirmed")


@_attrs_define
class SignupConfirmed:
    """
    Attributes:
        api_key (str): The account's first API key, shown this once.
        balance (int):
        email (str):
        tier (Tier): A user's plan; each has its own Temporal task queue.
        user_id (str):
    """

    api_key: str
    balance: int
    email: str
    tier: Tier
    user_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        api_key = self.api_key

        balance = self.balance

        email = self.email

        tier: str = self.tier

        user_id = self.user_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "api_key": api_key,
                "balance": balance,
                "email": email,
                "tier": tier,
                "user_id": user_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        api_key = d.pop("api_key")

        balance = d.pop("balance")

        email = d.pop("email")

        tier = check_tier(d.pop("tier"))

        user_id = d.pop("user_id")

        signup_confirmed = cls(
            api_key=api_key,
            balance=balance,
            email=email,
            tier=tier,
            user_id=user_id,
        )

        signup_confirmed.additional_properties = d
        return signup_confirmed

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
