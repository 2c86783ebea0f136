from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="EndpointOut")


@_attrs_define
class EndpointOut:
    """One RunPod endpoint of the GPU pool: configuration, load and the last hour's attempts.

    Attributes:
        attempts_last_hour (int):
        cancel_per_10s (float):
        consecutive_failures (int): its latest attempts that failed in a row
        cost_usd_last_hour (float): at its price per GPU second
        failed_last_hour (int): of those, FAILED or TIMED_OUT
        failing (bool): its latest attempts failed often enough, recently enough, for workers to hold new jobs back from
            it (each worker's own view: its metrics)
        gpu_s_last_hour (float):
        gpu_slots (int): GPUs one worker process may fill on it
        id (str):
        in_flight (int): model steps with a RunPod job on it now
        price_per_s_usd (float):
        run_per_10s (float):
        status_per_10s (float):
        tiers (list[str]): tiers whose jobs it runs (empty: every tier)
    """

    attempts_last_hour: int
    cancel_per_10s: float
    consecutive_failures: int
    cost_usd_last_hour: float
    failed_last_hour: int
    failing: bool
    gpu_s_last_hour: float
    gpu_slots: int
    id: str
    in_flight: int
    price_per_s_usd: float
    run_per_10s: float
    status_per_10s: float
    tiers: list[str]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attempts_last_hour = self.attempts_last_hour

        cancel_per_10s = self.cancel_per_10s

        consecutive_failures = self.consecutive_failures

        cost_usd_last_hour = self.cost_usd_last_hour

        failed_last_hour = self.failed_last_hour

        failing = self.failing

        gpu_s_last_hour = self.gpu_s_last_hour

        gpu_slots = self.gpu_slots

        id = self.id

        in_flight = self.in_flight

        price_per_s_usd = self.price_per_s_usd

        run_per_10s = self.run_per_10s

        status_per_10s = self.status_per_10s

        tiers = self.tiers

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attempts_last_hour": attempts_last_hour,
                "cancel_per_10s": cancel_per_10s,
                "consecutive_failures": consecutive_failures,
                "cost_usd_last_hour": cost_usd_last_hour,
                "failed_last_hour": failed_last_hour,
                "failing": failing,
                "gpu_s_last_hour": gpu_s_last_hour,
                "gpu_slots": gpu_slots,
                "id": id,
                "in_flight": in_flight,
                "price_per_s_usd": price_per_s_usd,
                "run_per_10s": run_per_10s,
                "status_per_10s": status_per_10s,
                "tiers": tiers,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        attempts_last_hour = d.pop("attempts_last_hour")

        cancel_per_10s = d.pop("cancel_per_10s")

        consecutive_failures = d.pop("consecutive_failures")

        cost_usd_last_hour = d.pop("cost_usd_last_hour")

        failed_last_hour = d.pop("failed_last_hour")

        failing = d.pop("failing")

        gpu_s_last_hour = d.pop("gpu_s_last_hour")

        gpu_slots = d.pop("gpu_slots")

        id = d.pop("id")

        in_flight = d.pop("in_flight")

        price_per_s_usd = d.pop("price_per_s_usd")

        run_per_10s = d.pop("run_per_10s")

        status_per_10s = d.pop("status_per_10s")

        tiers = cast(list[str], d.pop("tiers"))

        endpoint_out = cls(
            attempts_last_hour=attempts_last_hour,
            cancel_per_10s=cancel_per_10s,
            consecutive_failures=consecutive_failures,
            cost_usd_last_hour=cost_usd_last_hour,
            failed_last_hour=failed_last_hour,
            failing=failing,
            gpu_s_last_hour=gpu_s_last_hour,
            gpu_slots=gpu_slots,
            id=id,
            in_flight=in_flight,
            price_per_s_usd=price_per_s_usd,
            run_per_10s=run_per_10s,
            status_per_10s=status_per_10s,
            tiers=tiers,
        )

        endpoint_out.additional_properties = d
        return endpoint_out

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
