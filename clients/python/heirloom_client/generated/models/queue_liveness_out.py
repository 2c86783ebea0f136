from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.poller_out import PollerOut


T = TypeVar("T", bound="QueueLivenessOut")


@_attrs_define
class QueueLivenessOut:
    """
    Attributes:
        alive (bool): each task type it serves was polled within alive_within_s
        pollers (list[PollerOut]):
        task_queue (str):
    """

    alive: bool
    pollers: list[PollerOut]
    task_queue: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        alive = self.alive

        pollers = []
        for pollers_item_data in self.pollers:
            pollers_item = pollers_item_data.to_dict()
            pollers.append(pollers_item)

        task_queue = self.task_queue

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "alive": alive,
                "pollers": pollers,
                "task_queue": task_queue,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.poller_out import PollerOut

        d = dict(src_dict)
        alive = d.pop("alive")

        pollers = []
        _pollers = d.pop("pollers")
        for pollers_item_data in _pollers:
            pollers_item = PollerOut.from_dict(pollers_item_data)

            pollers.append(pollers_item)

        task_queue = d.pop("task_queue")

        queue_liveness_out = cls(
            alive=alive,
            pollers=pollers,
            task_queue=task_queue,
        )

        queue_liveness_out.additional_properties = d
        return queue_liveness_out

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
