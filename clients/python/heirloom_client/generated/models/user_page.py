from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.user_summary_out import UserSummaryOut


T = TypeVar("T", bound="UserPage")


@_attrs_define
class UserPage:
    """
    Attributes:
        limit (int):
        next_cursor (None | str): pass back as `cursor` for the next page; null on the last
        offset (int): the older paging by position; 0 with `cursor`
        users (list[UserSummaryOut]):
    """

    limit: int
    next_cursor: None | str
    offset: int
    users: list[UserSummaryOut]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        limit = self.limit

        next_cursor: None | str
        next_cursor = self.next_cursor

        offset = self.offset

        users = []
        for users_item_data in self.users:
            users_item = users_item_data.to_dict()
            users.append(users_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "limit": limit,
                "next_cursor": next_cursor,
                "offset": offset,
                "users": users,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.user_summary_out import UserSummaryOut

        d = dict(src_dict)
        limit = d.pop("limit")

        def _parse_next_cursor(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        next_cursor = _parse_next_cursor(d.pop("next_cursor"))

        offset = d.pop("offset")

        users = []
        _users = d.pop("users")
        for users_item_data in _users:
            users_item = UserSummaryOut.from_dict(users_item_data)

            users.append(users_item)

        user_page = cls(
            limit=limit,
            next_cursor=next_cursor,
            offset=offset,
            users=users,
        )

        user_page.additional_properties = d
        return user_page

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
