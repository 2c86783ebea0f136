"""Keyset pages for any list query: order by a sort key, start after a cursor, fetch one extra
row to know whether another page follows (domain/paging.py holds the cursor itself)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from heirloom.domain.paging import Cursor

Row = TypeVar("Row")


@dataclass(frozen=True)
class SortKey:
    """A list's order: newest first by `at` (None: by id alone), ties by `id` ascending, or
    newest first by `id` alone when there is no `at`."""

    # Columns as SQLModel's `col()` gives them (typed loosely there: Mapped or a column).
    id: Any
    at: Any = None


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    next_cursor: Cursor | None


def keyset(statement: Any, key: SortKey, after: Cursor | None, limit: int) -> Any:
    """`statement` ordered by `key`, starting after `after`, `limit` rows plus one."""
    if key.at is None:
        statement = statement.order_by(key.id.desc())
        if after is not None:
            statement = statement.where(key.id < after.id)
    else:
        statement = statement.order_by(key.at.desc(), key.id.asc())
        if after is not None:
            if after.at is None:
                # A cursor of another list: refused like any other foreign token.
                return statement.where(sa.false()).limit(0)
            statement = statement.where(
                sa.or_(key.at < after.at, sa.and_(key.at == after.at, key.id > after.id))
            )
    return statement.limit(limit + 1)


def page_of(rows: Sequence[Row], limit: int, cursor_of: Callable[[Row], Cursor]) -> Page[Row]:
    """The first `limit` rows, and the cursor after the last of them when more follow."""
    shown = list(rows[:limit])
    more = len(rows) > limit
    return Page(shown, cursor_of(shown[-1]) if more and shown else None)
