from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="UserCreated")


@_attrs_define
class UserCreated:
    """
    Attributes:
        api_key (str): shown once; store it now
        balance (int):
        email (str):
        id (str):
        role (str):
        tier (str):
    """

    api_key: str
    balance: int
    email: str
    id: str
    role: str
    tier: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        api_key = self.api_key

        balance = self.balance

        email = self.email

        id = self.id

        role = self.role

        tier = self.tier

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "api_key": api_key,
                "balance": balance,
                "email": email,
                "id": id,
                "role": role,
                "tier": tier,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        api_key = d.pop("api_key")

        balance = d.pop("balance")

        email = d.pop("email")

        id = d.pop("id")

        role = d.pop("role")

        tier = d.pop("tier")

        user_created = cls(
            api_key=api_key,
            balance=balance,
            email=email,
            id=id,
            role=role,
            tier=tier,
        )

        user_created.additional_properties = d
        return user_created

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
