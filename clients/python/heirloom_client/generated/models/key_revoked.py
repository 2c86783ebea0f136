from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="KeyRevoked")


@_attrs_define
class KeyRevoked:
    """What a revocation ended.

    Attributes:
        revoked_key_ids (list[str]): the key named first, then those it created
        revoked_share_ids (list[str]):
        webhook_removed (bool):
    """

    revoked_key_ids: list[str]
    revoked_share_ids: list[str]
    webhook_removed: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        revoked_key_ids = self.revoked_key_ids

        revoked_share_ids = self.revoked_share_ids

        webhook_removed = self.webhook_removed

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "revoked_key_ids": revoked_key_ids,
                "revoked_share_ids": revoked_share_ids,
                "webhook_removed": webhook_removed,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        revoked_key_ids = cast(list[str], d.pop("revoked_key_ids"))

        revoked_share_ids = cast(list[str], d.pop("revoked_share_ids"))

        webhook_removed = d.pop("webhook_removed")

        key_revoked = cls(
            revoked_key_ids=revoked_key_ids,
            revoked_share_ids=revoked_share_ids,
            webhook_removed=webhook_removed,
        )

        key_revoked.additional_properties = d
        return key_revoked

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
