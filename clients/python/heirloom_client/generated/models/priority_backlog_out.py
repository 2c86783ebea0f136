from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="PriorityBacklogOut")


@_attrs_define
class PriorityBacklogOut:
    """
    Attributes:
        add_rate (float): tasks added per second, recently
        backlog (int): tasks waiting for a worker
        backlog_age_s (float): how long the oldest waiting task has waited
        dispatch_rate (float): tasks handed to workers per second, recently
        priority_key (int): Temporal task priority; 1 is dispatched first
    """

    add_rate: float
    backlog: int
    backlog_age_s: float
    dispatch_rate: float
    priority_key: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        add_rate = self.add_rate

        backlog = self.backlog

        backlog_age_s = self.backlog_age_s

        dispatch_rate = self.dispatch_rate

        priority_key = self.priority_key

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "add_rate": add_rate,
                "backlog": backlog,
                "backlog_age_s": backlog_age_s,
                "dispatch_rate": dispatch_rate,
                "priority_key": priority_key,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        add_rate = d.pop("add_rate")

        backlog = d.pop("backlog")

        backlog_age_s = d.pop("backlog_age_s")

        dispatch_rate = d.pop("dispatch_rate")

        priority_key = d.pop("priority_key")

        priority_backlog_out = cls(
            add_rate=add_rate,
            backlog=backlog,
            backlog_age_s=backlog_age_s,
            dispatch_rate=dispatch_rate,
            priority_key=priority_key,
        )

        priority_backlog_out.additional_properties = d
        return priority_backlog_out

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
