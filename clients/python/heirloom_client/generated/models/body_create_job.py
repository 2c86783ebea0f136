from __future__ import annotations

from collections.abc import Mapping
from io import BytesIO
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from .. import types
from ..models.body_create_job_operations import (
    BodyCreateJobOperations,
    check_body_create_job_operations,
)
from ..types import UNSET, File, Unset

T = TypeVar("T", bound="BodyCreateJob")


@_attrs_define
class BodyCreateJob:
    """
    Attributes:
        file (File): the photo: JPEG, PNG, WebP, TIFF, BMP, HEIC/HEIF or AVIF
        operations (BodyCreateJobOperations): restore, colorize or both (comma-separated, either order)
        callback_url (None | str | Unset): this job's events also go here, signed
        candidates (int | Unset): model runs with different seeds to pick the result from (the tier's max_candidates;
            each beyond the first adds candidate_price_percent of the price) Default: 1.
    """

    file: File
    operations: BodyCreateJobOperations
    callback_url: None | str | Unset = UNSET
    candidates: int | Unset = 1
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        file = self.file.to_tuple()

        operations: str = self.operations

        callback_url: None | str | Unset
        if isinstance(self.callback_url, Unset):
            callback_url = UNSET
        else:
            callback_url = self.callback_url

        candidates = self.candidates

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "file": file,
                "operations": operations,
            }
        )
        if callback_url is not UNSET:
            field_dict["callback_url"] = callback_url
        if candidates is not UNSET:
            field_dict["candidates"] = candidates

        return field_dict

    def to_multipart(self) -> types.RequestFiles:
        files: types.RequestFiles = []

        files.append(("file", self.file.to_tuple()))

        files.append(
            ("operations", (None, str(self.operations).encode(), "text/plain"))
        )

        if not isinstance(self.callback_url, Unset):
            if isinstance(self.callback_url, str):
                files.append(
                    (
                        "callback_url",
                        (None, str(self.callback_url).encode(), "text/plain"),
                    )
                )
            else:
                files.append(
                    (
                        "callback_url",
                        (None, str(self.callback_url).encode(), "text/plain"),
                    )
                )

        if not isinstance(self.candidates, Unset):
            files.append(
                ("candidates", (None, str(self.candidates).encode(), "text/plain"))
            )

        for prop_name, prop in self.additional_properties.items():
            files.append((prop_name, (None, str(prop).encode(), "text/plain")))

        return files

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        file = File(payload=BytesIO(d.pop("file")))

        operations = check_body_create_job_operations(d.pop("operations"))

        def _parse_callback_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        callback_url = _parse_callback_url(d.pop("callback_url", UNSET))

        candidates = d.pop("candidates", UNSET)

        body_create_job = cls(
            file=file,
            operations=operations,
            callback_url=callback_url,
            candidates=candidates,
        )

        body_create_job.additional_properties = d
        return body_create_job

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
