from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.tier_queue_out import TierQueueOut


T = TypeVar("T", bound="QueueOut")


@_attrs_define
class QueueOut:
    """
    Attributes:
        gpu_pool_size (int):
        tiers (list[TierQueueOut]):
    """

    gpu_pool_size: int
    tiers: list[TierQueueOut]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        gpu_pool_size = self.gpu_pool_size

        tiers = []
        for tiers_item_data in self.tiers:
            tiers_item = tiers_item_data.to_dict()
            tiers.append(tiers_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "gpu_pool_size": gpu_pool_size,
                "tiers": tiers,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.tier_queue_out import TierQueueOut

        d = dict(src_dict)
        gpu_pool_size = d.pop("gpu_pool_size")

        tiers = []
        _tiers = d.pop("tiers")
        for tiers_item_data in _tiers:
            tiers_item = TierQueueOut.from_dict(tiers_item_data)

            tiers.append(tiers_item)

        queue_out = cls(
            gpu_pool_size=gpu_pool_size,
            tiers=tiers,
        )

        queue_out.additional_properties = d
        return queue_out

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
