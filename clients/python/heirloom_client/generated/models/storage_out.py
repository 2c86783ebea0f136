from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="StorageOut")


@_attrs_define
class StorageOut:
    """What the caller keeps against the tier's quota (null limits: none).

    Attributes:
        bytes_limit (int | None):
        bytes_used (int):
        results_kept (int):
        results_limit (int | None):
    """

    bytes_limit: int | None
    bytes_used: int
    results_kept: int
    results_limit: int | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        bytes_limit: int | None
        bytes_limit = self.bytes_limit

        bytes_used = self.bytes_used

        results_kept = self.results_kept

        results_limit: int | None
        results_limit = self.results_limit

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "bytes_limit": bytes_limit,
                "bytes_used": bytes_used,
                "results_kept": results_kept,
                "results_limit": results_limit,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_bytes_limit(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        bytes_limit = _parse_bytes_limit(d.pop("bytes_limit"))

        bytes_used = d.pop("bytes_used")

        results_kept = d.pop("results_kept")

        def _parse_results_limit(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        results_limit = _parse_results_limit(d.pop("results_limit"))

        storage_out = cls(
            bytes_limit=bytes_limit,
            bytes_used=bytes_used,
            results_kept=results_kept,
            results_limit=results_limit,
        )

        storage_out.additional_properties = d
        return storage_out

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
