"""Heirloom's client for a RunPod serverless endpoint, on httpx (no `runpod` SDK).

The worker's model steps use the async calls: one `httpx.AsyncClient` per event loop, so a
request holds no thread, and a worker's poll scheduler (services/runpod/polls.py) spaces them.
The few synchronous callers (settlement, health, alerts, tools) share one `httpx.Client`; a
synchronous `/cancel` waits for the process's cancel budget (budget.py), which the model steps'
cancels take from too, so RunPod's `/cancel` limit holds whoever cancels.
Both send `Authorization: Bearer <key>` and read answers the same way: 404 is "does not exist"
(None), 429 is `RateLimited` (with RunPod's Retry-After, if any), a timeout, transport error,
408 or 5xx is `ModelUnavailable` (transient), any other 4xx is `ModelFailed`. Nothing retries
here: the poll scheduler and Temporal own retries.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from heirloom.config import EndpointSettings, Settings
from heirloom.domain.errors import HeirloomError, ModelFailed, ModelUnavailable
from heirloom.services.runpod.budget import RequestBudget, endpoint_cancel_budget
from heirloom.services.runpod.metrics import (
    ENDPOINT_REQUESTS,
    RUNPOD_ERRORS,
    RUNPOD_REQUEST_DURATION,
)

TERMINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})

# httpcore asks `import sniffio` for every lock and event of an async request; anyio 4 no
# longer needs sniffio, and without it each ask searched sys.path again (about half a
# millisecond, a third of the worker's CPU per job: bench/pool_sim.py's profile). Marked absent
# once, the ask fails at once and httpcore takes asyncio, as it did.
if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

Method = Literal["GET", "POST"]

# A worker's connections to one endpoint: httpx's 100 at most, every one kept alive. With
# httpx's default of 20 kept, whatever a burst of polls opened beyond 20 was closed and the next
# burst opened it again, a TCP (and with RunPod a TLS) handshake each: two per job in
# bench/pool_sim.py at 1,000 GPUs, whose worker then spent half its CPU in httpcore's pool.
# Fewer connections (64, 32 kept) queued the bursts inside httpcore, whose pool looks at every
# connection for every queued request: worse again.
ASYNC_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)


class RateLimited(ModelUnavailable):
    """RunPod answered 429: wait `retry_after_s` (None: it did not say) before the next call."""

    def __init__(self, message: str, *, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotSent(ModelUnavailable):
    """The connection failed before the request went out: RunPod never saw it (a `/run` may
    go to another endpoint without risking a second job)."""


class HeldBack(NotSent):
    """The request waited for one of this process's connections and never went out: this
    worker is busy, the endpoint is not at fault."""


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
    """Submits, polls and cancels jobs on one RunPod serverless endpoint.

    Threads may share the synchronous calls; the `*_async` calls may run on any number of event
    loops (each gets its own connection pool).
    """

    def __init__(
        self,
        *,
        api_key: str,
        endpoint_id: str,
        base_url: str,
        request_timeout_s: float,
        cancel_budget: RequestBudget | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("the RunPod API key is empty")
        self._endpoint_id = endpoint_id
        self._base_url = f"{base_url.rstrip('/')}/{endpoint_id}/"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout = httpx.Timeout(request_timeout_s)
        self._request_timeout_s = request_timeout_s
        # None: synchronous cancels are not rate-limited here (tools, tests).
        self.cancel_budget = cancel_budget
        self._sync: httpx.Client | None = None
        self._sync_lock = threading.Lock()
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, endpoint: EndpointSettings | None = None
    ) -> RunPodService:
        """The service for one endpoint of the GPU pool (default: its first, the one endpoint
        of the single-endpoint settings)."""
        endpoint = endpoint or settings.gpu_endpoints[0]
        return cls(
            api_key=settings.runpod_api_key,
            endpoint_id=endpoint.id,
            base_url=endpoint.base_url or settings.runpod_base_url,
            request_timeout_s=settings.runpod_request_timeout_s,
            cancel_budget=endpoint_cancel_budget(endpoint),
        )

    @property
    def endpoint_id(self) -> str:
        return self._endpoint_id

    # --- async: the worker's model steps ------------------------------------------------------

    async def submit_async(
        self, payload: dict[str, Any], *, execution_timeout_s: int, ttl_s: int
    ) -> str:
        """Queue a job with `payload` as its input; returns RunPod's job id."""
        body = _run_body(payload, execution_timeout_s, ttl_s)
        return self._job_id(await self._request_async("POST", "run", body))

    async def status_async(self, job_id: str) -> RunPodJobState:
        """Poll a job once."""
        return _job_state(job_id, await self._request_async("GET", f"status/{job_id}"))

    async def cancel_async(self, job_id: str) -> None:
        """Ask RunPod to stop a job; a finished or forgotten job is left as it is."""
        await self._request_async("POST", f"cancel/{job_id}")

    async def close_async(self) -> None:
        """Close the current event loop's connections (a worker's last step)."""
        client = self._async.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    # --- sync: settlement, health, alerts, tools ----------------------------------------------

    def submit(self, payload: dict[str, Any], *, execution_timeout_s: int, ttl_s: int) -> str:
        """Queue a job with `payload` as its input; returns RunPod's job id."""
        body = _run_body(payload, execution_timeout_s, ttl_s)
        return self._job_id(self._request("POST", "run", body))

    def status(self, job_id: str) -> RunPodJobState:
        """Poll a job once."""
        return _job_state(job_id, self._request("GET", f"status/{job_id}"))

    def cancel(self, job_id: str) -> None:
        """Ask RunPod to stop a job; a finished or forgotten job is left as it is.

        Within the cancel budget: waits for its token up to the request timeout, else raises
        `RateLimited` without sending; a 429 pauses the budget for RunPod's Retry-After.
        """
        budget = self.cancel_budget
        if budget is not None and not budget.wait_for_token(self._request_timeout_s):
            raise RateLimited(
                f"RunPod /cancel budget spent; job {job_id} was not cancelled", retry_after_s=None
            )
        try:
            self._request("POST", f"cancel/{job_id}")
        except RateLimited as err:
            if budget is not None:
                budget.pause(err.retry_after_s if err.retry_after_s is not None else 1.0)
            raise

    def health(self) -> dict[str, Any]:
        """The endpoint's job and worker counts, as RunPod reports them."""
        answer = self._request("GET", "health")
        if answer is None:
            raise ModelFailed(f"RunPod endpoint {self._endpoint_id} does not exist")
        return answer

    def close(self) -> None:
        """Close the synchronous client's connections."""
        with self._sync_lock:
            if self._sync is not None:
                self._sync.close()
                self._sync = None

    # --- one request --------------------------------------------------------------------------

    def _job_id(self, answer: dict[str, Any] | None) -> str:
        if answer is None:
            raise ModelFailed(f"RunPod endpoint {self._endpoint_id} does not exist")
        job_id = answer.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise ModelUnavailable(f"RunPod accepted the job without an id: {answer!r:.200}")
        return job_id

    def _client(self) -> httpx.Client:
        with self._sync_lock:
            if self._sync is None:
                self._sync = httpx.Client(
                    base_url=self._base_url, headers=self._headers, timeout=self._timeout
                )
            return self._sync

    def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = httpx.AsyncClient(
                base_url=self._base_url,
                headers=self._headers,
                timeout=self._timeout,
                limits=ASYNC_LIMITS,
            )
            self._async[loop] = client
        return client

    def _request(
        self, method: Method, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        operation = path.split("/", 1)[0]
        ENDPOINT_REQUESTS.labels(endpoint=self._endpoint_id, operation=operation).inc()
        with _observed(operation):
            try:
                response = self._client().request(method, path, json=body)
            except httpx.HTTPError as exc:
                raise _unreachable(method, path, exc) from exc
            return _answer(method, path, response)

    async def _request_async(
        self, method: Method, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        operation = path.split("/", 1)[0]
        ENDPOINT_REQUESTS.labels(endpoint=self._endpoint_id, operation=operation).inc()
        with _observed(operation):
            try:
                response = await self._async_client().request(method, path, json=body)
            except httpx.HTTPError as exc:
                raise _unreachable(method, path, exc) from exc
            return _answer(method, path, response)


@contextmanager
def _observed(operation: str) -> Iterator[None]:
    """Time a request and count its Heirloom error, by operation."""
    with RUNPOD_REQUEST_DURATION.labels(operation=operation).time():
        try:
            yield
        except HeirloomError as err:
            RUNPOD_ERRORS.labels(operation=operation, kind=err.code).inc()
            raise


def _run_body(payload: dict[str, Any], execution_timeout_s: int, ttl_s: int) -> dict[str, Any]:
    return {
        "input": payload,
        "policy": {"executionTimeout": execution_timeout_s * 1000, "ttl": ttl_s * 1000},
    }


def _unreachable(method: Method, path: str, exc: httpx.HTTPError) -> ModelUnavailable:
    message = f"RunPod is unreachable ({method} {path}): {type(exc).__name__}"
    if isinstance(exc, httpx.PoolTimeout):
        return HeldBack(f"No connection to RunPod was free in time ({method} {path})")
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return NotSent(message)
    return ModelUnavailable(message)


def _answer(method: Method, path: str, response: httpx.Response) -> dict[str, Any] | None:
    """RunPod's JSON answer, None for 404, or the error the status code means."""
    code = response.status_code
    if code == 404:
        return None
    if code == 429:
        raise RateLimited(
            f"RunPod answered HTTP 429 to {method} {path}",
            retry_after_s=retry_after_s(response.headers.get("Retry-After")),
        )
    if code == 401:
        raise ModelFailed("RunPod rejected the API key (HTTP 401)")
    if code == 408 or code >= 500:
        raise ModelUnavailable(f"RunPod answered HTTP {code} to {method} {path}")
    if code >= 400:
        raise ModelFailed(f"RunPod rejected {method} {path} with HTTP {code}: {response.text:.200}")
    try:
        answer = response.json()
    except ValueError as exc:
        raise ModelUnavailable(f"RunPod answered {method} {path} with no JSON") from exc
    if not isinstance(answer, dict):
        raise ModelUnavailable(f"RunPod answered {method} {path} with {answer!r:.200}")
    return answer


def retry_after_s(header: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date), if valid."""
    if header is None:
        return None
    header = header.strip()
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _job_state(job_id: str, answer: dict[str, Any] | None) -> RunPodJobState:
    if answer is None:
        raise ModelFailed(
            f"RunPod no longer knows job {job_id}; it may be past its TTL", runpod_job=job_id
        )
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
