from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.admin_health_out_checks import AdminHealthOutChecks
    from ..models.queue_liveness_out import QueueLivenessOut


T = TypeVar("T", bound="AdminHealthOut")


@_attrs_define
class AdminHealthOut:
    """
    Attributes:
        alive_within_s (float):
        checks (AdminHealthOutChecks):
        status (str): ready or not_ready, as /readyz
        task_queues (list[QueueLivenessOut]):
    """

    alive_within_s: float
    checks: AdminHealthOutChecks
    status: str
    task_queues: list[QueueLivenessOut]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        alive_within_s = self.alive_within_s

        checks = self.checks.to_dict()

        status = self.status

        task_queues = []
        for task_queues_item_data in self.task_queues:
            task_queues_item = task_queues_item_data.to_dict()
            task_queues.append(task_queues_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "alive_within_s": alive_within_s,
                "checks": checks,
                "status": status,
                "task_queues": task_queues,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.admin_health_out_checks import AdminHealthOutChecks
        from ..models.queue_liveness_out import QueueLivenessOut

        d = dict(src_dict)
        alive_within_s = d.pop("alive_within_s")

        checks = AdminHealthOutChecks.from_dict(d.pop("checks"))

        status = d.pop("status")

        task_queues = []
        _task_queues = d.pop("task_queues")
        for task_queues_item_data in _task_queues:
            task_queues_item = QueueLivenessOut.from_dict(task_queues_item_data)

            task_queues.append(task_queues_item)

        admin_health_out = cls(
            alive_within_s=alive_within_s,
            checks=checks,
            status=status,
            task_queues=task_queues,
        )

        admin_health_out.additional_properties = d
        return admin_health_out

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
