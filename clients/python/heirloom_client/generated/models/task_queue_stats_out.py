from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.priority_backlog_out import PriorityBacklogOut


T = TypeVar("T", bound="TaskQueueStatsOut")


@_attrs_define
class TaskQueueStatsOut:
    """
    Attributes:
        add_rate (float): tasks added per second, recently
        backlog (int): tasks waiting for a worker
        backlog_age_s (float): how long the oldest waiting task has waited
        by_priority (list[PriorityBacklogOut]):
        dispatch_rate (float): tasks handed to workers per second, recently
        pollers (int): workers seen polling it (identities)
        task_queue (str):
        task_type (str): workflow or activity tasks
    """

    add_rate: float
    backlog: int
    backlog_age_s: float
    by_priority: list[PriorityBacklogOut]
    dispatch_rate: float
    pollers: int
    task_queue: str
    task_type: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        add_rate = self.add_rate

        backlog = self.backlog

        backlog_age_s = self.backlog_age_s

        by_priority = []
        for by_priority_item_data in self.by_priority:
            by_priority_item = by_priority_item_data.to_dict()
            by_priority.append(by_priority_item)

        dispatch_rate = self.dispatch_rate

        pollers = self.pollers

        task_queue = self.task_queue

        task_type = self.task_type

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "add_rate": add_rate,
                "backlog": backlog,
                "backlog_age_s": backlog_age_s,
                "by_priority": by_priority,
                "dispatch_rate": dispatch_rate,
                "pollers": pollers,
                "task_queue": task_queue,
                "task_type": task_type,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.priority_backlog_out import PriorityBacklogOut

        d = dict(src_dict)
        add_rate = d.pop("add_rate")

        backlog = d.pop("backlog")

        backlog_age_s = d.pop("backlog_age_s")

        by_priority = []
        _by_priority = d.pop("by_priority")
        for by_priority_item_data in _by_priority:
            by_priority_item = PriorityBacklogOut.from_dict(by_priority_item_data)

            by_priority.append(by_priority_item)

        dispatch_rate = d.pop("dispatch_rate")

        pollers = d.pop("pollers")

        task_queue = d.pop("task_queue")

        task_type = d.pop("task_type")

        task_queue_stats_out = cls(
            add_rate=add_rate,
            backlog=backlog,
            backlog_age_s=backlog_age_s,
            by_priority=by_priority,
            dispatch_rate=dispatch_rate,
            pollers=pollers,
            task_queue=task_queue,
            task_type=task_type,
        )

        task_queue_stats_out.additional_properties = d
        return task_queue_stats_out

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
