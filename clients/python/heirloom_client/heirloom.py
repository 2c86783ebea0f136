"""`Heirloom`: the common path over the generated client, with errors raised as ApiError."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from heirloom_client.errors import ApiError
from heirloom_client.generated import AuthenticatedClient
from heirloom_client.generated.api.jobs import create_job, get_job, get_result
from heirloom_client.generated.api.shares import create_share
from heirloom_client.generated.models import (
    BodyCreateJob,
    ErrorResponse,
    JobOut,
    ShareCreate,
    ShareOut,
)
from heirloom_client.generated.models.body_create_job_operations import (
    BodyCreateJobOperations,
    check_body_create_job_operations,
)
from heirloom_client.generated.types import UNSET, File, Response

# The events after which a job's stream ends: the job reached its final state.
FINAL_EVENTS = frozenset({"job.completed", "job.failed", "job.cancelled"})

Parsed = TypeVar("Parsed")


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event of a job's stream: `type` (`snapshot`, `job.updated`, ...),
    its `id` (to resume after) and `data` (the JSON body: `{"id", "type", "job": {...}}`)."""

    type: str
    id: int | None
    data: dict[str, Any]

    @property
    def job(self) -> dict[str, Any]:
        job: dict[str, Any] = self.data.get("job", {})
        return job


class Heirloom:
    """A signed-in client: `upload`, `events`/`wait`, `download_result`, `share`. `client` is
    the generated AuthenticatedClient, for every other route."""

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self.client = AuthenticatedClient(
            base_url=base_url.rstrip("/"),
            token=api_key,
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=True,  # downloads from S3 answer with a presigned redirect
        )

    def __enter__(self) -> Heirloom:
        self.client.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)

    def upload(
        self,
        photo: str | Path | bytes | IO[bytes],
        operations: BodyCreateJobOperations | str = "restore",
        *,
        file_name: str | None = None,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
    ) -> JobOut:
        """Submit a photo (a path, bytes or a binary file); the answer is the charged job."""
        if isinstance(photo, str | Path):
            path = Path(photo)
            payload: IO[bytes] | bytes = path.read_bytes()
            file_name = file_name or path.name
        else:
            payload = photo
        data = payload if isinstance(payload, bytes) else payload.read()
        body = BodyCreateJob(
            file=File(payload=io.BytesIO(data), file_name=file_name or "photo", mime_type=None),
            operations=check_body_create_job_operations(operations),
            callback_url=callback_url if callback_url is not None else UNSET,
        )
        answer = create_job.sync_detailed(
            client=self.client,
            body=body,
            idempotency_key=idempotency_key if idempotency_key is not None else UNSET,
        )
        return _parsed(answer, JobOut)

    def job(self, job_id: str) -> JobOut:
        return _parsed(get_job.sync_detailed(job_id, client=self.client), JobOut)

    def events(self, job_id: str, *, after: int | None = None) -> Iterator[Event]:
        """The job's events as they happen, from a snapshot to its final event; `after`
        resumes after that event id. Ends when the server ends the stream."""
        params = {"after": after} if after is not None else {}
        http = self.client.get_httpx_client()
        timeout = httpx.Timeout(self.timeout_s, read=None)  # a stream waits for events
        with http.stream(
            "GET", f"/v1/jobs/{job_id}/events", params=params, timeout=timeout
        ) as answer:
            if answer.status_code != 200:
                raise ApiError.from_response(answer.status_code, answer.read())
            yield from _server_sent_events(answer.iter_lines())

    def wait(self, job_id: str, *, timeout_s: float = 600.0) -> JobOut:
        """Follow the job's stream until it ends (completed, failed or cancelled) and return
        the job; a dropped stream is resumed after the last event seen."""
        deadline = time.monotonic() + timeout_s
        last: int | None = None
        while time.monotonic() < deadline:
            try:
                for event in self.events(job_id, after=last):
                    if event.type == "error":
                        error = event.data.get("error", {})
                        raise ApiError(401, error.get("code", "unauthorized"), str(error))
                    last = event.id if event.id is not None else last
                    if event.type in FINAL_EVENTS or event.job.get("finished_at"):
                        return self.job(job_id)
            except httpx.TransportError:
                time.sleep(0.5)
                continue
            # The server ended the stream: the job is final, or read it to be sure.
            job = self.job(job_id)
            if job.status in ("completed", "failed", "cancelled"):
                return job
        raise TimeoutError(f"job {job_id} did not finish within {timeout_s} s")

    def download_result(self, job_id: str) -> bytes:
        """The restored photo's bytes (a completed job's)."""
        answer = get_result.sync_detailed(job_id, client=self.client)
        if answer.status_code != 200:
            raise ApiError.from_response(answer.status_code, answer.content)
        return answer.content

    def share(
        self, job_id: str, *, expires_in_s: int | None = None, allow_download: bool = False
    ) -> ShareOut:
        """A public link to the job's result; its `url` is in this answer only."""
        body = ShareCreate(
            expires_in=expires_in_s if expires_in_s is not None else UNSET,
            allow_download=allow_download,
        )
        return _parsed(create_share.sync_detailed(job_id, client=self.client, body=body), ShareOut)


def _parsed(answer: Response[Any], expected: type[Parsed]) -> Parsed:
    if isinstance(answer.parsed, expected):
        return answer.parsed
    if isinstance(answer.parsed, ErrorResponse) or answer.status_code >= 400:
        raise ApiError.from_response(answer.status_code, answer.content)
    raise ApiError(answer.status_code, "unexpected_answer", "The answer was not understood.")


def _server_sent_events(lines: Iterator[str]) -> Iterator[Event]:
    """Events of a text/event-stream (comments and keep-alives skipped)."""
    kind: str = "message"
    event_id: str | None = None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield Event(kind, int(event_id) if event_id else None, json.loads("\n".join(data)))
            kind, event_id, data = "message", None, []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                kind = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value
