from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.album_out_counts import AlbumOutCounts
    from ..models.job_out import JobOut


T = TypeVar("T", bound="AlbumOut")


@_attrs_define
class AlbumOut:
    """An album as its owner sees it: its photos' jobs counted by status, and each of them.

    Attributes:
        counts (AlbumOutCounts): the photos' jobs by status
        created_at (datetime.datetime):
        credits_charged (int): the album's total when it was charged
        events_url (str):
        finished_at (datetime.datetime | None):
        id (str):
        jobs (list[JobOut]):
        operations (list[str]):
        photos (int):
        status (str): running until every photo has ended, then completed
        zip_expires_at (datetime.datetime | None):
        zip_url (None | str): the ZIP of results, once completed, for a day
    """

    counts: AlbumOutCounts
    created_at: datetime.datetime
    credits_charged: int
    events_url: str
    finished_at: datetime.datetime | None
    id: str
    jobs: list[JobOut]
    operations: list[str]
    photos: int
    status: str
    zip_expires_at: datetime.datetime | None
    zip_url: None | str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        counts = self.counts.to_dict()

        created_at = self.created_at.isoformat()

        credits_charged = self.credits_charged

        events_url = self.events_url

        finished_at: None | str
        if isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        id = self.id

        jobs = []
        for jobs_item_data in self.jobs:
            jobs_item = jobs_item_data.to_dict()
            jobs.append(jobs_item)

        operations = self.operations

        photos = self.photos

        status = self.status

        zip_expires_at: None | str
        if isinstance(self.zip_expires_at, datetime.datetime):
            zip_expires_at = self.zip_expires_at.isoformat()
        else:
            zip_expires_at = self.zip_expires_at

        zip_url: None | str
        zip_url = self.zip_url

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "counts": counts,
                "created_at": created_at,
                "credits_charged": credits_charged,
                "events_url": events_url,
                "finished_at": finished_at,
                "id": id,
                "jobs": jobs,
                "operations": operations,
                "photos": photos,
                "status": status,
                "zip_expires_at": zip_expires_at,
                "zip_url": zip_url,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.album_out_counts import AlbumOutCounts
        from ..models.job_out import JobOut

        d = dict(src_dict)
        counts = AlbumOutCounts.from_dict(d.pop("counts"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        credits_charged = d.pop("credits_charged")

        events_url = d.pop("events_url")

        def _parse_finished_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = datetime.datetime.fromisoformat(data)

                return finished_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        finished_at = _parse_finished_at(d.pop("finished_at"))

        id = d.pop("id")

        jobs = []
        _jobs = d.pop("jobs")
        for jobs_item_data in _jobs:
            jobs_item = JobOut.from_dict(jobs_item_data)

            jobs.append(jobs_item)

        operations = cast(list[str], d.pop("operations"))

        photos = d.pop("photos")

        status = d.pop("status")

        def _parse_zip_expires_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                zip_expires_at_type_0 = datetime.datetime.fromisoformat(data)

                return zip_expires_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        zip_expires_at = _parse_zip_expires_at(d.pop("zip_expires_at"))

        def _parse_zip_url(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        zip_url = _parse_zip_url(d.pop("zip_url"))

        album_out = cls(
            counts=counts,
            created_at=created_at,
            credits_charged=credits_charged,
            events_url=events_url,
            finished_at=finished_at,
            id=id,
            jobs=jobs,
            operations=operations,
            photos=photos,
            status=status,
            zip_expires_at=zip_expires_at,
            zip_url=zip_url,
        )

        album_out.additional_properties = d
        return album_out

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
