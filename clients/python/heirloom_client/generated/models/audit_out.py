from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="AuditOut")


@_attrs_define
class AuditOut:
    """
    Attributes:
        action (str):
        actor (str):
        at (datetime.datetime):
        id (int):
        ip (None | str):
        job_id (None | str):
        owner_id (str):
        share_id (None | str):
        user_agent (None | str):
        via (str):
    """

    action: str
    actor: str
    at: datetime.datetime
    id: int
    ip: None | str
    job_id: None | str
    owner_id: str
    share_id: None | str
    user_agent: None | str
    via: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        action = self.action

        actor = self.actor

        at = self.at.isoformat()

        id = self.id

        ip: None | str
        ip = self.ip

        job_id: None | str
        job_id = self.job_id

        owner_id = self.owner_id

        share_id: None | str
        share_id = self.share_id

        user_agent: None | str
        user_agent = self.user_agent

        via = self.via

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "action": action,
                "actor": actor,
                "at": at,
                "id": id,
                "ip": ip,
                "job_id": job_id,
                "owner_id": owner_id,
                "share_id": share_id,
                "user_agent": user_agent,
                "via": via,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        action = d.pop("action")

        actor = d.pop("actor")

        at = datetime.datetime.fromisoformat(d.pop("at"))

        id = d.pop("id")

        def _parse_ip(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        ip = _parse_ip(d.pop("ip"))

        def _parse_job_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        job_id = _parse_job_id(d.pop("job_id"))

        owner_id = d.pop("owner_id")

        def _parse_share_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        share_id = _parse_share_id(d.pop("share_id"))

        def _parse_user_agent(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        user_agent = _parse_user_agent(d.pop("user_agent"))

        via = d.pop("via")

        audit_out = cls(
            action=action,
            actor=actor,
            at=at,
            id=id,
            ip=ip,
            job_id=job_id,
            owner_id=owner_id,
            share_id=share_id,
            user_agent=user_agent,
            via=via,
        )

        audit_out.additional_properties = d
        return audit_out

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
