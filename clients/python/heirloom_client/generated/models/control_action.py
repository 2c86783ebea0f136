from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ControlAction")


@_attrs_define
class ControlAction:
    """One admin control action: who paused, resumed or changed a budget, and why.

    Attributes:
        action (str):
        actor_id (str):
        created_at (datetime.datetime):
        detail (None | str):
        id (int):
        scope (str):
    """

    action: str
    actor_id: str
    created_at: datetime.datetime
    detail: None | str
    id: int
    scope: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        action = self.action

        actor_id = self.actor_id

        created_at = self.created_at.isoformat()

        detail: None | str
        detail = self.detail

        id = self.id

        scope = self.scope

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "action": action,
                "actor_id": actor_id,
                "created_at": created_at,
                "detail": detail,
                "id": id,
                "scope": scope,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        action = d.pop("action")

        actor_id = d.pop("actor_id")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_detail(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        detail = _parse_detail(d.pop("detail"))

        id = d.pop("id")

        scope = d.pop("scope")

        control_action = cls(
            action=action,
            actor_id=actor_id,
            created_at=created_at,
            detail=detail,
            id=id,
            scope=scope,
        )

        control_action.additional_properties = d
        return control_action

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
