from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="AbuseSignalOut")


@_attrs_define
class AbuseSignalOut:
    """
    Attributes:
        address (None | str):
        created_at (datetime.datetime):
        id (int):
        key_id (None | str):
        kind (str):
        observed (int):
        suspended (bool):
        threshold (str):
        user_id (None | str):
    """

    address: None | str
    created_at: datetime.datetime
    id: int
    key_id: None | str
    kind: str
    observed: int
    suspended: bool
    threshold: str
    user_id: None | str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        address: None | str
        address = self.address

        created_at = self.created_at.isoformat()

        id = self.id

        key_id: None | str
        key_id = self.key_id

        kind = self.kind

        observed = self.observed

        suspended = self.suspended

        threshold = self.threshold

        user_id: None | str
        user_id = self.user_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "address": address,
                "created_at": created_at,
                "id": id,
                "key_id": key_id,
                "kind": kind,
                "observed": observed,
                "suspended": suspended,
                "threshold": threshold,
                "user_id": user_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_address(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        address = _parse_address(d.pop("address"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = d.pop("id")

        def _parse_key_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        key_id = _parse_key_id(d.pop("key_id"))

        kind = d.pop("kind")

        observed = d.pop("observed")

        suspended = d.pop("suspended")

        threshold = d.pop("threshold")

        def _parse_user_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        user_id = _parse_user_id(d.pop("user_id"))

        abuse_signal_out = cls(
            address=address,
            created_at=created_at,
            id=id,
            key_id=key_id,
            kind=kind,
            observed=observed,
            suspended=suspended,
            threshold=threshold,
            user_id=user_id,
        )

        abuse_signal_out.additional_properties = d
        return abuse_signal_out

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
