from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="LedgerLineOut")


@_attrs_define
class LedgerLineOut:
    """
    Attributes:
        amount (int):
        created_at (datetime.datetime):
        id (int):
        job_id (None | str):
        kind (str):
        reason (str):
    """

    amount: int
    created_at: datetime.datetime
    id: int
    job_id: None | str
    kind: str
    reason: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        amount = self.amount

        created_at = self.created_at.isoformat()

        id = self.id

        job_id: None | str
        job_id = self.job_id

        kind = self.kind

        reason = self.reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "amount": amount,
                "created_at": created_at,
                "id": id,
                "job_id": job_id,
                "kind": kind,
                "reason": reason,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        amount = d.pop("amount")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = d.pop("id")

        def _parse_job_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        job_id = _parse_job_id(d.pop("job_id"))

        kind = d.pop("kind")

        reason = d.pop("reason")

        ledger_line_out = cls(
            amount=amount,
            created_at=created_at,
            id=id,
            job_id=job_id,
            kind=kind,
            reason=reason,
        )

        ledger_line_out.additional_properties = d
        return ledger_line_out

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
