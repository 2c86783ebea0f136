"""Cursors of list routes: where a page ended, as an opaque token the caller hands back.

A cursor holds the sort key of a page's last row (a timestamp and an id, or an id alone). Lists
are ordered by a key that no insert can move (creation time, then id): a page that starts after
a cursor neither repeats a row the caller saw nor skips one that existed when the caller
started, however many rows are added meanwhile (newer rows sort before the first page).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from heirloom.domain.errors import InvalidQuery

# Longest token a list route accepts: a timestamp and a 64-character id, encoded, fit well.
MAX_CURSOR_LENGTH = 200
# Row ids are 64-bit integers; a larger one in a hand-made token would overflow the query.
MAX_ROW_ID = 2**62


@dataclass(frozen=True)
class Cursor:
    """The sort key of a page's last row; `at` is None for lists ordered by id alone."""

    id: str | int
    at: datetime | None = None

    def encode(self) -> str:
        fields: dict[str, str | int] = {"id": self.id}
        if self.at is not None:
            fields["at"] = self.at.astimezone(UTC).isoformat()
        raw = json.dumps(fields, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """The cursor a token names; 422 (`invalid_request`) for anything not made by encode."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            fields = json.loads(raw)
            key = fields["id"]
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise TypeError(key)
            # Hand-made tokens stay within what every database column can compare.
            if isinstance(key, int) and not 0 < key < MAX_ROW_ID:
                raise ValueError(key)
            if isinstance(key, str) and not 0 < len(key) <= 64:
                raise ValueError(key)
            at = fields.get("at")
            when = datetime.fromisoformat(at).astimezone(UTC) if at is not None else None
        except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
            raise InvalidQuery(
                "`cursor` is not one this API gave out: pass `next_cursor` back unchanged."
            ) from None
        return cls(key, when)
