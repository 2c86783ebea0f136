from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.endpoint_out import EndpointOut
    from ..models.task_queue_stats_out import TaskQueueStatsOut


T = TypeVar("T", bound="AdminQueueOut")


@_attrs_define
class AdminQueueOut:
    """
    Attributes:
        endpoints (list[EndpointOut]): the GPU pool's RunPod endpoints
        gpu_in_flight (int): model steps holding a GPU slot (job rows)
        gpu_pool_size (int):
        runpod_jobs_in_flight (int): of those, the ones with a RunPod job
        task_queues (list[TaskQueueStatsOut]):
    """

    endpoints: list[EndpointOut]
    gpu_in_flight: int
    gpu_pool_size: int
    runpod_jobs_in_flight: int
    task_queues: list[TaskQueueStatsOut]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        endpoints = []
        for endpoints_item_data in self.endpoints:
            endpoints_item = endpoints_item_data.to_dict()
            endpoints.append(endpoints_item)

        gpu_in_flight = self.gpu_in_flight

        gpu_pool_size = self.gpu_pool_size

        runpod_jobs_in_flight = self.runpod_jobs_in_flight

        task_queues = []
        for task_queues_item_data in self.task_queues:
            task_queues_item = task_queues_item_data.to_dict()
            task_queues.append(task_queues_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "endpoints": endpoints,
                "gpu_in_flight": gpu_in_flight,
                "gpu_pool_size": gpu_pool_size,
                "runpod_jobs_in_flight": runpod_jobs_in_flight,
                "task_queues": task_queues,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.endpoint_out import EndpointOut
        from ..models.task_queue_stats_out import TaskQueueStatsOut

        d = dict(src_dict)
        endpoints = []
        _endpoints = d.pop("endpoints")
        for endpoints_item_data in _endpoints:
            endpoints_item = EndpointOut.from_dict(endpoints_item_data)

            endpoints.append(endpoints_item)

        gpu_in_flight = d.pop("gpu_in_flight")

        gpu_pool_size = d.pop("gpu_pool_size")

        runpod_jobs_in_flight = d.pop("runpod_jobs_in_flight")

        task_queues = []
        _task_queues = d.pop("task_queues")
        for task_queues_item_data in _task_queues:
            task_queues_item = TaskQueueStatsOut.from_dict(task_queues_item_data)

            task_queues.append(task_queues_item)

        admin_queue_out = cls(
            endpoints=endpoints,
            gpu_in_flight=gpu_in_flight,
            gpu_pool_size=gpu_pool_size,
            runpod_jobs_in_flight=runpod_jobs_in_flight,
            task_queues=task_queues,
        )

        admin_queue_out.additional_properties = d
        return admin_queue_out

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
