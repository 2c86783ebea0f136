from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="UserSummaryOut")


@_attrs_define
class UserSummaryOut:
    """A user in the operators' list.

    Attributes:
        balance (int):
        created_at (datetime.datetime):
        email (str):
        id (str):
        jobs (int): jobs the user ever submitted, deleted ones included
        role (str):
        tier (str):
    """

    balance: int
    created_at: datetime.datetime
    email: str
    id: str
    jobs: int
    role: str
    tier: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        balance = self.balance

        created_at = self.created_at.isoformat()

        email = self.email

        id = self.id

        jobs = self.jobs

        role = self.role

        tier = self.tier

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "balance": balance,
                "created_at": created_at,
                "email": email,
                "id": id,
                "jobs": jobs,
                "role": role,
                "tier": tier,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        balance = d.pop("balance")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        email = d.pop("email")

        id = d.pop("id")

        jobs = d.pop("jobs")

        role = d.pop("role")

        tier = d.pop("tier")

        user_summary_out = cls(
            balance=balance,
            created_at=created_at,
            email=email,
            id=id,
            jobs=jobs,
            role=role,
            tier=tier,
        )

        user_summary_out.additional_properties = d
        return user_summary_out

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
