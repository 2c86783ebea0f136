from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="QueueMetricOut")


@_attrs_define
class QueueMetricOut:
    """One snapshot row: a tier at one GPU priority key (see README, queue metrics).

    Attributes:
        oldest_wait_s (float | None):
        on_gpu (int):
        priority_key (int):
        queue_add_rate (float | None):
        queue_backlog (int | None):
        queue_backlog_age_s (float | None):
        queue_dispatch_rate (float | None):
        runpod_in_progress (int | None):
        runpod_in_queue (int | None):
        runpod_workers_idle (int | None):
        runpod_workers_running (int | None):
        taken_at (datetime.datetime):
        tier (str):
        waiting (int):
    """

    oldest_wait_s: float | None
    on_gpu: int
    priority_key: int
    queue_add_rate: float | None
    queue_backlog: int | None
    queue_backlog_age_s: float | None
    queue_dispatch_rate: float | None
    runpod_in_progress: int | None
    runpod_in_queue: int | None
    runpod_workers_idle: int | None
    runpod_workers_running: int | None
    taken_at: datetime.datetime
    tier: str
    waiting: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        oldest_wait_s: float | None
        oldest_wait_s = self.oldest_wait_s

        on_gpu = self.on_gpu

        priority_key = self.priority_key

        queue_add_rate: float | None
        queue_add_rate = self.queue_add_rate

        queue_backlog: int | None
        queue_backlog = self.queue_backlog

        queue_backlog_age_s: float | None
        queue_backlog_age_s = self.queue_backlog_age_s

        queue_dispatch_rate: float | None
        queue_dispatch_rate = self.queue_dispatch_rate

        runpod_in_progress: int | None
        runpod_in_progress = self.runpod_in_progress

        runpod_in_queue: int | None
        runpod_in_queue = self.runpod_in_queue

        runpod_workers_idle: int | None
        runpod_workers_idle = self.runpod_workers_idle

        runpod_workers_running: int | None
        runpod_workers_running = self.runpod_workers_running

        taken_at = self.taken_at.isoformat()

        tier = self.tier

        waiting = self.waiting

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "oldest_wait_s": oldest_wait_s,
                "on_gpu": on_gpu,
                "priority_key": priority_key,
                "queue_add_rate": queue_add_rate,
                "queue_backlog": queue_backlog,
                "queue_backlog_age_s": queue_backlog_age_s,
                "queue_dispatch_rate": queue_dispatch_rate,
                "runpod_in_progress": runpod_in_progress,
                "runpod_in_queue": runpod_in_queue,
                "runpod_workers_idle": runpod_workers_idle,
                "runpod_workers_running": runpod_workers_running,
                "taken_at": taken_at,
                "tier": tier,
                "waiting": waiting,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_oldest_wait_s(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        oldest_wait_s = _parse_oldest_wait_s(d.pop("oldest_wait_s"))

        on_gpu = d.pop("on_gpu")

        priority_key = d.pop("priority_key")

        def _parse_queue_add_rate(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        queue_add_rate = _parse_queue_add_rate(d.pop("queue_add_rate"))

        def _parse_queue_backlog(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        queue_backlog = _parse_queue_backlog(d.pop("queue_backlog"))

        def _parse_queue_backlog_age_s(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        queue_backlog_age_s = _parse_queue_backlog_age_s(d.pop("queue_backlog_age_s"))

        def _parse_queue_dispatch_rate(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        queue_dispatch_rate = _parse_queue_dispatch_rate(d.pop("queue_dispatch_rate"))

        def _parse_runpod_in_progress(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        runpod_in_progress = _parse_runpod_in_progress(d.pop("runpod_in_progress"))

        def _parse_runpod_in_queue(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        runpod_in_queue = _parse_runpod_in_queue(d.pop("runpod_in_queue"))

        def _parse_runpod_workers_idle(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        runpod_workers_idle = _parse_runpod_workers_idle(d.pop("runpod_workers_idle"))

        def _parse_runpod_workers_running(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        runpod_workers_running = _parse_runpod_workers_running(
            d.pop("runpod_workers_running")
        )

        taken_at = datetime.datetime.fromisoformat(d.pop("taken_at"))

        tier = d.pop("tier")

        waiting = d.pop("waiting")

        queue_metric_out = cls(
            oldest_wait_s=oldest_wait_s,
            on_gpu=on_gpu,
            priority_key=priority_key,
            queue_add_rate=queue_add_rate,
            queue_backlog=queue_backlog,
            queue_backlog_age_s=queue_backlog_age_s,
            queue_dispatch_rate=queue_dispatch_rate,
            runpod_in_progress=runpod_in_progress,
            runpod_in_queue=runpod_in_queue,
            runpod_workers_idle=runpod_workers_idle,
            runpod_workers_running=runpod_workers_running,
            taken_at=taken_at,
            tier=tier,
            waiting=waiting,
        )

        queue_metric_out.additional_properties = d
        return queue_metric_out

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
