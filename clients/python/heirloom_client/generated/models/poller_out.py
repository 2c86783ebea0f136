from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="PollerOut")


@_attrs_define
class PollerOut:
    """
    Attributes:
        alive (bool):
        identity (str):
        last_access_at (datetime.datetime):
        task_type (str):
    """

    alive: bool
    identity: str
    last_access_at: datetime.datetime
    task_type: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        alive = self.alive

        identity = self.identity

        last_access_at = self.last_access_at.isoformat()

        task_type = self.task_type

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "alive": alive,
                "identity": identity,
                "last_access_at": last_access_at,
                "task_type": task_type,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        alive = d.pop("alive")

        identity = d.pop("identity")

        last_access_at = datetime.datetime.fromisoformat(d.pop("last_access_at"))

        task_type = d.pop("task_type")

        poller_out = cls(
            alive=alive,
            identity=identity,
            last_access_at=last_access_at,
            task_type=task_type,
        )

        poller_out.additional_properties = d
        return poller_out

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
