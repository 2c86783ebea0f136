from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.storage_out import StorageOut


T = TypeVar("T", bound="MeOut")


@_attrs_define
class MeOut:
    """
    Attributes:
        balance (int):
        daily_job_limit (int | None):
        daily_limit_resets_at (datetime.datetime):
        email (str):
        id (str):
        jobs_today (int):
        role (str):
        tier (str):
        debt (int | Unset): Credits a refunded purchase still owes; while > 0 no job starts. Default: 0.
        storage (None | StorageOut | Unset):
    """

    balance: int
    daily_job_limit: int | None
    daily_limit_resets_at: datetime.datetime
    email: str
    id: str
    jobs_today: int
    role: str
    tier: str
    debt: int | Unset = 0
    storage: None | StorageOut | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.storage_out import StorageOut

        balance = self.balance

        daily_job_limit: int | None
        daily_job_limit = self.daily_job_limit

        daily_limit_resets_at = self.daily_limit_resets_at.isoformat()

        email = self.email

        id = self.id

        jobs_today = self.jobs_today

        role = self.role

        tier = self.tier

        debt = self.debt

        storage: dict[str, Any] | None | Unset
        if isinstance(self.storage, Unset):
            storage = UNSET
        elif isinstance(self.storage, StorageOut):
            storage = self.storage.to_dict()
        else:
            storage = self.storage

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "balance": balance,
                "daily_job_limit": daily_job_limit,
                "daily_limit_resets_at": daily_limit_resets_at,
                "email": email,
                "id": id,
                "jobs_today": jobs_today,
                "role": role,
                "tier": tier,
            }
        )
        if debt is not UNSET:
            field_dict["debt"] = debt
        if storage is not UNSET:
            field_dict["storage"] = storage

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.storage_out import StorageOut

        d = dict(src_dict)
        balance = d.pop("balance")

        def _parse_daily_job_limit(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        daily_job_limit = _parse_daily_job_limit(d.pop("daily_job_limit"))

        daily_limit_resets_at = datetime.datetime.fromisoformat(
            d.pop("daily_limit_resets_at")
        )

        email = d.pop("email")

        id = d.pop("id")

        jobs_today = d.pop("jobs_today")

        role = d.pop("role")

        tier = d.pop("tier")

        debt = d.pop("debt", UNSET)

        def _parse_storage(data: object) -> None | StorageOut | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                storage_type_0 = StorageOut.from_dict(data)

                return storage_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | StorageOut | Unset, data)

        storage = _parse_storage(d.pop("storage", UNSET))

        me_out = cls(
            balance=balance,
            daily_job_limit=daily_job_limit,
            daily_limit_resets_at=daily_limit_resets_at,
            email=email,
            id=id,
            jobs_today=jobs_today,
            role=role,
            tier=tier,
            debt=debt,
            storage=storage,
        )

        me_out.additional_properties = d
        return me_out

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
