from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="TierOut")


@_attrs_define
class TierOut:
    """
    Attributes:
        daily_job_limit (int | None):
        gpu_priority (int): the model step's place in the GPU queue; 1 goes first
        max_active_jobs (int | None):
        model_attempts (int):
        output_long_side (int):
        rate_limit (str):
        storage_days (int | None):
        task_queue (str):
        tier (str):
        watermark (bool):
        candidate_price_percent (int | Unset): percent of the job's price (rounded up) each candidate beyond the first
            adds Default: 100.
        max_candidates (int | Unset): candidates (model runs with different seeds) a job may ask for Default: 1.
        output_short_side (int | None | Unset):
        storage_quota_bytes (int | None | Unset):
        storage_quota_results (int | None | Unset):
    """

    daily_job_limit: int | None
    gpu_priority: int
    max_active_jobs: int | None
    model_attempts: int
    output_long_side: int
    rate_limit: str
    storage_days: int | None
    task_queue: str
    tier: str
    watermark: bool
    candidate_price_percent: int | Unset = 100
    max_candidates: int | Unset = 1
    output_short_side: int | None | Unset = UNSET
    storage_quota_bytes: int | None | Unset = UNSET
    storage_quota_results: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        daily_job_limit: int | None
        daily_job_limit = self.daily_job_limit

        gpu_priority = self.gpu_priority

        max_active_jobs: int | None
        max_active_jobs = self.max_active_jobs

        model_attempts = self.model_attempts

        output_long_side = self.output_long_side

        rate_limit = self.rate_limit

        storage_days: int | None
        storage_days = self.storage_days

        task_queue = self.task_queue

        tier = self.tier

        watermark = self.watermark

        candidate_price_percent = self.candidate_price_percent

        max_candidates = self.max_candidates

        output_short_side: int | None | Unset
        if isinstance(self.output_short_side, Unset):
            output_short_side = UNSET
        else:
            output_short_side = self.output_short_side

        storage_quota_bytes: int | None | Unset
        if isinstance(self.storage_quota_bytes, Unset):
            storage_quota_bytes = UNSET
        else:
            storage_quota_bytes = self.storage_quota_bytes

        storage_quota_results: int | None | Unset
        if isinstance(self.storage_quota_results, Unset):
            storage_quota_results = UNSET
        else:
            storage_quota_results = self.storage_quota_results

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "daily_job_limit": daily_job_limit,
                "gpu_priority": gpu_priority,
                "max_active_jobs": max_active_jobs,
                "model_attempts": model_attempts,
                "output_long_side": output_long_side,
                "rate_limit": rate_limit,
                "storage_days": storage_days,
                "task_queue": task_queue,
                "tier": tier,
                "watermark": watermark,
            }
        )
        if candidate_price_percent is not UNSET:
            field_dict["candidate_price_percent"] = candidate_price_percent
        if max_candidates is not UNSET:
            field_dict["max_candidates"] = max_candidates
        if output_short_side is not UNSET:
            field_dict["output_short_side"] = output_short_side
        if storage_quota_bytes is not UNSET:
            field_dict["storage_quota_bytes"] = storage_quota_bytes
        if storage_quota_results is not UNSET:
            field_dict["storage_quota_results"] = storage_quota_results

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_daily_job_limit(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        daily_job_limit = _parse_daily_job_limit(d.pop("daily_job_limit"))

        gpu_priority = d.pop("gpu_priority")

        def _parse_max_active_jobs(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        max_active_jobs = _parse_max_active_jobs(d.pop("max_active_jobs"))

        model_attempts = d.pop("model_attempts")

        output_long_side = d.pop("output_long_side")

        rate_limit = d.pop("rate_limit")

        def _parse_storage_days(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        storage_days = _parse_storage_days(d.pop("storage_days"))

        task_queue = d.pop("task_queue")

        tier = d.pop("tier")

        watermark = d.pop("watermark")

        candidate_price_percent = d.pop("candidate_price_percent", UNSET)

        max_candidates = d.pop("max_candidates", UNSET)

        def _parse_output_short_side(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        output_short_side = _parse_output_short_side(d.pop("output_short_side", UNSET))

        def _parse_storage_quota_bytes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        storage_quota_bytes = _parse_storage_quota_bytes(
            d.pop("storage_quota_bytes", UNSET)
        )

        def _parse_storage_quota_results(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        storage_quota_results = _parse_storage_quota_results(
            d.pop("storage_quota_results", UNSET)
        )

        tier_out = cls(
            daily_job_limit=daily_job_limit,
            gpu_priority=gpu_priority,
            max_active_jobs=max_active_jobs,
            model_attempts=model_attempts,
            output_long_side=output_long_side,
            rate_limit=rate_limit,
            storage_days=storage_days,
            task_queue=task_queue,
            tier=tier,
            watermark=watermark,
            candidate_price_percent=candidate_price_percent,
            max_candidates=max_candidates,
            output_short_side=output_short_side,
            storage_quota_bytes=storage_quota_bytes,
            storage_quota_results=storage_quota_results,
        )

        tier_out.additional_properties = d
        return tier_out

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
