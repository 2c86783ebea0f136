"""Heirloom's client for a RunPod serverless endpoint, on the official `runpod` SDK's HTTP client.

The SDK's `RunPodClient` builds the URLs, sends `Authorization: Bearer <key>` and reports 401s;
its `Endpoint` and `Job` wrappers are not used because they fix request timeouts (10 s, 3 s for
cancel), cache a job's status and poll in sleep loops. Each client instance carries its own base
URL (the SDK only reads the process-wide `runpod.endpoint_url_base` when one is built), so nothing
global is changed. Errors become `ModelUnavailable` (transient: Temporal retries) or `ModelFailed`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

import requests
from requests.adapters import HTTPAdapter
from runpod.endpoint.helpers import UNAUTHORIZED_MSG
from runpod.endpoint.runner import RunPodClient

from heirloom.config import Settings
from heirloom.domain.errors import HeirloomError, ModelFailed, ModelUnavailable
from heirloom.services.metrics import RUNPOD_ERRORS, RUNPOD_REQUEST_DURATION

TERMINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})


@dataclass(frozen=True)
class RunPodJobState:
    """What one status poll tells about a RunPod job."""

    job_id: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    delay_time_ms: int | None
    execution_time_ms: int | None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class RunPodService:
    """Submits, polls and cancels jobs on one RunPod serverless endpoint; threads may share it."""

    def __init__(
        self, *, api_key: str, endpoint_id: str, base_url: str, request_timeout_s: float
    ) -> None:
        # An empty key would make the SDK fall back to ~/.runpod credentials.
        if not api_key:
            raise ValueError("the RunPod API key is empty")
        self._api_key = api_key
        self._endpoint_id = endpoint_id
        self._base_url = base_url.rstrip("/")
        self._timeout_s = request_timeout_s
        # requests.Session is not thread-safe, and activities poll from many threads.
        self._local = threading.local()

    @classmethod
    def from_settings(cls, settings: Settings) -> RunPodService:
        """The service for the endpoint configured in `settings`."""
        return cls(
            api_key=settings.runpod_api_key,
            endpoint_id=settings.runpod_endpoint_id,
            base_url=settings.runpod_base_url,
            request_timeout_s=settings.runpod_request_timeout_s,
        )

    def submit(self, payload: dict[str, Any], *, execution_timeout_s: int, ttl_s: int) -> str:
        """Queue a job with `payload` as its input; returns RunPod's job id."""
        body = {
            "input": payload,
            "policy": {"executionTimeout": execution_timeout_s * 1000, "ttl": ttl_s * 1000},
        }
        answer = self._request("POST", "run", body)
        if answer is None:
            raise ModelFailed(f"RunPod endpoint {self._endpoint_id} does not exist")
        job_id = answer.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise ModelUnavailable(f"RunPod accepted the job without an id: {answer!r:.200}")
        return job_id

    def status(self, job_id: str) -> RunPodJobState:
        """Poll a job once."""
        answer = self._request("GET", f"status/{job_id}")
        if answer is None:
            raise ModelFailed(
                f"RunPod no longer knows job {job_id}; it may be past its TTL", runpod_job=job_id
            )
        return _job_state(job_id, answer)

    def cancel(self, job_id: str) -> None:
        """Ask RunPod to stop a job; a finished or forgotten job is left as it is."""
        self._request("POST", f"cancel/{job_id}")

    def health(self) -> dict[str, Any]:
        """The endpoint's job and worker counts, as RunPod reports them."""
        answer = self._request("GET", "health")
        if answer is None:
            raise ModelFailed(f"RunPod endpoint {self._endpoint_id} does not exist")
        return answer

    def _client(self) -> Any:
        client: Any = getattr(self._local, "client", None)
        if client is None:
            client = RunPodClient(api_key=self._api_key)
            client.endpoint_url_base = self._base_url
            # The SDK mounts urllib3 retries with backoff (up to 5, ~30 s) for plain http://
            # only; Temporal owns retries, so every scheme fails fast here.
            client.rp_session.mount("http://", HTTPAdapter())
            self._local.client = client
        return client

    def _request(
        self, method: Literal["GET", "POST"], path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """One call to the endpoint, timed and counted by operation; None when it answers 404."""
        operation = path.split("/", 1)[0]
        with RUNPOD_REQUEST_DURATION.labels(operation=operation).time():
            try:
                return self._send(method, path, body)
            except HeirloomError as err:
                RUNPOD_ERRORS.labels(operation=operation, kind=err.code).inc()
                raise

    def _send(
        self, method: Literal["GET", "POST"], path: str, body: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        url_path = f"{self._endpoint_id}/{path}"
        client = self._client()
        try:
            if method == "GET":
                answer = client.get(url_path, timeout=self._timeout_s)
            else:
                answer = client.post(url_path, body, timeout=self._timeout_s)
        except requests.HTTPError as exc:
            response = exc.response
            code = 0 if response is None else response.status_code
            if code == 404:
                return None
            if code in (0, 408, 429) or code >= 500:
                raise ModelUnavailable(f"RunPod answered HTTP {code} to {method} {path}") from exc
            detail = "" if response is None else response.text
            raise ModelFailed(
                f"RunPod rejected {method} {path} with HTTP {code}: {detail:.200}"
            ) from exc
        except requests.RequestException as exc:
            raise ModelUnavailable(f"RunPod is unreachable ({method} {path}): {exc}") from exc
        except RuntimeError as exc:
            if str(exc) != UNAUTHORIZED_MSG:
                raise
            raise ModelFailed("RunPod rejected the API key (HTTP 401)") from exc
        if not isinstance(answer, dict):
            raise ModelUnavailable(f"RunPod answered {method} {path} with {answer!r:.200}")
        return answer


def _job_state(job_id: str, answer: dict[str, Any]) -> RunPodJobState:
    status = answer.get("status")
    output = answer.get("output")
    if not isinstance(status, str):
        raise ModelUnavailable(f"RunPod's status of job {job_id} has no status: {answer!r:.200}")
    if output is not None and not isinstance(output, dict):
        raise ModelFailed(f"RunPod job {job_id} returned output of type {type(output).__name__}")
    error = answer.get("error")
    return RunPodJobState(
        job_id=job_id,
        status=status,
        output=output,
        error=None if error is None else str(error),
        delay_time_ms=_int_or_none(answer.get("delayTime")),
        execution_time_ms=_int_or_none(answer.get("executionTime")),
    )


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None
