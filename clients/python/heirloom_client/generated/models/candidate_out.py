from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="CandidateOut")


@_attrs_define
class CandidateOut:
    """One of a job's candidates: its own seed and files.

    Attributes:
        candidate (int):
        chosen (bool):
        comparison_url (None | str):
        height (int):
        quality (str): passed, or flagged by the quality gate
        result_url (None | str):
        seed (int | None):
        thumbnail_url (None | str):
        width (int):
    """

    candidate: int
    chosen: bool
    comparison_url: None | str
    height: int
    quality: str
    result_url: None | str
    seed: int | None
    thumbnail_url: None | str
    width: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        candidate = self.candidate

        chosen = self.chosen

        comparison_url: None | str
        comparison_url = self.comparison_url

        height = self.height

        quality = self.quality

        result_url: None | str
        result_url = self.result_url

        seed: int | None
        seed = self.seed

        thumbnail_url: None | str
        thumbnail_url = self.thumbnail_url

        width = self.width

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "candidate": candidate,
                "chosen": chosen,
                "comparison_url": comparison_url,
                "height": height,
                "quality": quality,
                "result_url": result_url,
                "seed": seed,
                "thumbnail_url": thumbnail_url,
                "width": width,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        candidate = d.pop("candidate")

        chosen = d.pop("chosen")

        def _parse_comparison_url(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        comparison_url = _parse_comparison_url(d.pop("comparison_url"))

        height = d.pop("height")

        quality = d.pop("quality")

        def _parse_result_url(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        result_url = _parse_result_url(d.pop("result_url"))

        def _parse_seed(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        seed = _parse_seed(d.pop("seed"))

        def _parse_thumbnail_url(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        thumbnail_url = _parse_thumbnail_url(d.pop("thumbnail_url"))

        width = d.pop("width")

        candidate_out = cls(
            candidate=candidate,
            chosen=chosen,
            comparison_url=comparison_url,
            height=height,
            quality=quality,
            result_url=result_url,
            seed=seed,
            thumbnail_url=thumbnail_url,
            width=width,
        )

        candidate_out.additional_properties = d
        return candidate_out

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
