"""The cursor side of every list route: one `cursor` query parameter, one `next_cursor` field.

A list answers at most `limit` rows and, when more follow, `next_cursor`: pass it back as
`cursor` for the next page, until `next_cursor` is null. Tokens are opaque (domain/paging.py).
Lists that paged by `before_id` before cursors existed still accept it and still answer
`next_before_id`; `offset` on GET /v1/jobs and GET /v1/admin/users is kept the same way. Both
are public already, so they stay; new clients use the cursor.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import Field

from heirloom.db.paging import Page
from heirloom.domain.errors import InvalidQuery
from heirloom.domain.paging import MAX_CURSOR_LENGTH, Cursor

CursorQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_CURSOR_LENGTH,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`next_cursor` of the previous page, unchanged",
    ),
]


NextCursor = Annotated[
    str | None, Field(description="pass back as `cursor` for the next page; null on the last")
]


def decode(token: str | None) -> Cursor | None:
    """The cursor of a `cursor` parameter, or None on a first page."""
    return Cursor.decode(token) if token is not None else None


def before_id(token: str | None, legacy: int | None) -> int | None:
    """Where a list ordered by id alone starts: the cursor's id, or the older `before_id`."""
    if token is None:
        return legacy
    if legacy is not None:
        raise InvalidQuery("Pass `cursor` or `before_id`, not both.")
    key = Cursor.decode(token).id
    if not isinstance(key, int):
        raise InvalidQuery("`cursor` is not one this list gave out.")
    return key


def next_token(page: Page[Any]) -> str | None:
    """`next_cursor` of a keyset page (db/paging.py): its cursor encoded, or None on the last."""
    return page.next_cursor.encode() if page.next_cursor else None


def after_id(next_before_id: int | None) -> str | None:
    """`next_cursor` of a list ordered by id alone."""
    return Cursor(next_before_id).encode() if next_before_id is not None else None
