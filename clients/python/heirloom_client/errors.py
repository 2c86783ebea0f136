"""One exception for every error answer of the API, with its stable code."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: `status` (HTTP), `code` (stable, docs/errors.md), `message` (for people)."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    @classmethod
    def from_response(cls, status: int, body: bytes) -> ApiError:
        """The error an answer's body names; a body that is not the API's error (a proxy's
        page) still gives an ApiError, with the code `http_error`."""
        import json

        try:
            error = json.loads(body)["error"]
            return cls(status, str(error["code"]), str(error["message"]), error.get("details"))
        except (ValueError, KeyError, TypeError):
            return cls(status, "http_error", f"The server answered {status}.")
