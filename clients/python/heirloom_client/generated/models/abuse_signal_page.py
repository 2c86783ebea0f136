from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.abuse_signal_out import AbuseSignalOut


T = TypeVar("T", bound="AbuseSignalPage")


@_attrs_define
class AbuseSignalPage:
    """
    Attributes:
        next_before_id (int | None): the older form of `next_cursor`
        next_cursor (None | str): pass back as `cursor` for the next page; null on the last
        signals (list[AbuseSignalOut]):
    """

    next_before_id: int | None
    next_cursor: None | str
    signals: list[AbuseSignalOut]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        next_before_id: int | None
        next_before_id = self.next_before_id

        next_cursor: None | str
        next_cursor = self.next_cursor

        signals = []
        for signals_item_data in self.signals:
            signals_item = signals_item_data.to_dict()
            signals.append(signals_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "next_before_id": next_before_id,
                "next_cursor": next_cursor,
                "signals": signals,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.abuse_signal_out import AbuseSignalOut

        d = dict(src_dict)

        def _parse_next_before_id(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        next_before_id = _parse_next_before_id(d.pop("next_before_id"))

        def _parse_next_cursor(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        next_cursor = _parse_next_cursor(d.pop("next_cursor"))

        signals = []
        _signals = d.pop("signals")
        for signals_item_data in _signals:
            signals_item = AbuseSignalOut.from_dict(signals_item_data)

            signals.append(signals_item)

        abuse_signal_page = cls(
            next_before_id=next_before_id,
            next_cursor=next_cursor,
            signals=signals,
        )

        abuse_signal_page.additional_properties = d
        return abuse_signal_page

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
