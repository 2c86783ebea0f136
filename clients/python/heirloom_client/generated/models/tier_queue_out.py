from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="TierQueueOut")


@_attrs_define
class TierQueueOut:
    """
    Attributes:
        oldest_wait_s (float | None): how long the oldest waiting job has waited
        on_gpu (int): jobs whose model runs now
        p50_wait_s (float | None): median wait for a GPU of the jobs whose model started in the last hour
        tier (str):
        waiting (int): jobs whose model step waits for a GPU
    """

    oldest_wait_s: float | None
    on_gpu: int
    p50_wait_s: float | None
    tier: str
    waiting: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        oldest_wait_s: float | None
        oldest_wait_s = self.oldest_wait_s

        on_gpu = self.on_gpu

        p50_wait_s: float | None
        p50_wait_s = self.p50_wait_s

        tier = self.tier

        waiting = self.waiting

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "oldest_wait_s": oldest_wait_s,
                "on_gpu": on_gpu,
                "p50_wait_s": p50_wait_s,
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

        def _parse_p50_wait_s(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        p50_wait_s = _parse_p50_wait_s(d.pop("p50_wait_s"))

        tier = d.pop("tier")

        waiting = d.pop("waiting")

        tier_queue_out = cls(
            oldest_wait_s=oldest_wait_s,
            on_gpu=on_gpu,
            p50_wait_s=p50_wait_s,
            tier=tier,
            waiting=waiting,
        )

        tier_queue_out.additional_properties = d
        return tier_queue_out

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
