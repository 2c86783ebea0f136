"""The local RunPod endpoint, driven through RunPodService like production."""

from __future__ import annotations

import base64
import io
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from heirloom.config import FaultSettings, Settings
from heirloom.domain.errors import ModelFailed, ModelUnavailable
from heirloom.services.runpod.client import RateLimited, RunPodJobState, RunPodService
from tests.harness.stack import local_endpoint
from tests.support import HANG_GUARD_S, wait_until

API_KEY = "test-runpod-key"
ENDPOINT_ID = "test-endpoint"


@contextmanager
def running_endpoint(settings: Settings) -> Iterator[str]:
    """Serve the local RunPod endpoint on a free loopback port; yields its `/v2` base URL."""
    with local_endpoint(settings) as url:
        yield f"{url}/v2"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        home=tmp_path_factory.mktemp("heirloom"),
        runpod_api_key=API_KEY,
        runpod_endpoint_id=ENDPOINT_ID,
        devstack_runpod_workers=2,
    )
    with running_endpoint(settings) as url:
        yield url


@pytest.fixture
def admin(base_url: str) -> Iterator[httpx.Client]:
    """The endpoint's admin routes, with faults and stats reset around each test."""
    with httpx.Client(base_url=base_url.removesuffix("/v2")) as client:
        client.put("/_admin/faults", json=FaultSettings().model_dump()).raise_for_status()
        client.post("/_admin/reset-stats").raise_for_status()
        yield client
        client.put("/_admin/faults", json=FaultSettings().model_dump()).raise_for_status()


@pytest.fixture
def runpod(base_url: str) -> RunPodService:
    return RunPodService(
        api_key=API_KEY, endpoint_id=ENDPOINT_ID, base_url=base_url, request_timeout_s=5
    )


def set_faults(admin: httpx.Client, **faults: Any) -> None:
    admin.put("/_admin/faults", json=FaultSettings(**faults).model_dump()).raise_for_status()


def photo_payload(job_ref: str = "job-1", operations: list[str] | None = None) -> dict[str, Any]:
    photo = Image.linear_gradient("L").resize((64, 48)).convert("RGB")
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    return {
        "image_base64": base64.b64encode(buffer.getvalue()).decode("ascii"),
        "operations": operations or ["restore", "colorize"],
        "output_format": "PNG",
        "job_ref": job_ref,
    }


def submit(runpod: RunPodService, payload: dict[str, Any], *, execution_timeout_s: int = 60) -> str:
    return runpod.submit(payload, execution_timeout_s=execution_timeout_s, ttl_s=600)


def wait_for(
    runpod: RunPodService,
    job_id: str,
    done: Callable[[RunPodJobState], bool] = lambda state: state.terminal,
) -> RunPodJobState:
    def reached() -> RunPodJobState | None:
        state = runpod.status(job_id)
        return state if done(state) else None

    return wait_until(reached, f"RunPod job {job_id}", interval=0.02)


def test_a_submitted_photo_completes_with_a_decodable_image(
    admin: httpx.Client, runpod: RunPodService
) -> None:
    job_id = submit(runpod, photo_payload())

    state = wait_for(runpod, job_id)

    assert state.status == "COMPLETED", state.error
    assert state.output is not None
    assert state.output["engine"] == "cpu-pillow-standin"
    assert (state.output["width"], state.output["height"], state.output["format"]) == (
        64,
        48,
        "PNG",
    )
    image = Image.open(io.BytesIO(base64.b64decode(state.output["image_base64"])))
    assert (image.format, image.size) == ("PNG", (64, 48))
    assert state.delay_time_ms is not None
    assert state.execution_time_ms is not None


def test_cancelling_a_slow_job_stops_it_promptly(
    admin: httpx.Client, runpod: RunPodService
) -> None:
    set_faults(admin, execution_ms=30_000)
    job_id = submit(runpod, photo_payload())
    wait_for(runpod, job_id, lambda state: state.status == "IN_PROGRESS")

    runpod.cancel(job_id)

    assert runpod.status(job_id).status == "CANCELLED"
    # The deadline only guards against a hang: the worker is freed at its next time slice.
    wait_until(
        lambda: runpod.health()["workers"]["running"] == 0,
        "the cancelled job to give its worker back",
        interval=0.02,
    )
    runpod.cancel(job_id)  # cancelling again is harmless
    assert runpod.status(job_id).status == "CANCELLED"
    assert admin.get("/_admin/stats").json()["cancelled"] == 1


def test_an_injected_failure_ends_the_job_failed_with_an_error(
    admin: httpx.Client, runpod: RunPodService
) -> None:
    set_faults(admin, failed=1.0)

    state = wait_for(runpod, submit(runpod, photo_payload()))

    assert state.status == "FAILED"
    assert state.error
    assert state.output is None


def test_bad_input_fails_with_the_handlers_message(runpod: RunPodService) -> None:
    state = wait_for(runpod, submit(runpod, photo_payload(operations=["sharpen"])))

    assert state.status == "FAILED"
    assert state.error is not None
    assert "unknown operation" in state.error


def test_exceeding_the_execution_timeout_ends_the_job_timed_out(
    admin: httpx.Client, runpod: RunPodService
) -> None:
    # An hour of injected GPU time: only the execution timeout can end the job before the
    # test's wait gives up.
    set_faults(admin, execution_ms=3_600_000)

    state = wait_for(runpod, submit(runpod, photo_payload(), execution_timeout_s=1))

    assert state.status == "TIMED_OUT"
    assert state.execution_time_ms is not None
    assert state.execution_time_ms < 3_600_000


def test_stuck_jobs_stay_queued_until_the_queue_is_purged(
    admin: httpx.Client, runpod: RunPodService, base_url: str
) -> None:
    set_faults(admin, stuck_in_queue=1.0)
    job_id = submit(runpod, photo_payload())
    assert runpod.status(job_id).status == "IN_QUEUE"
    assert runpod.health()["workers"]["running"] == 0

    purged = httpx.post(
        f"{base_url}/{ENDPOINT_ID}/purge-queue", headers={"Authorization": f"Bearer {API_KEY}"}
    )

    assert purged.json()["removed"] >= 1
    assert runpod.status(job_id).status == "CANCELLED"


def test_server_errors_raise_model_unavailable(admin: httpx.Client, runpod: RunPodService) -> None:
    job_id = submit(runpod, photo_payload())
    set_faults(admin, http_5xx=1.0)

    with pytest.raises(ModelUnavailable):
        submit(runpod, photo_payload())
    with pytest.raises(ModelUnavailable):
        runpod.status(job_id)


def test_rate_limits_raise_rate_limited_with_the_retry_after_at_once(
    admin: httpx.Client, runpod: RunPodService
) -> None:
    job_id = submit(runpod, photo_payload())
    set_faults(admin, http_429=1.0, retry_after_s=7)

    # A 429 is transient (a ModelUnavailable); nothing retries inside the client.
    with pytest.raises(RateLimited) as raised:
        runpod.status(job_id)
    assert isinstance(raised.value, ModelUnavailable)
    assert raised.value.retry_after_s == 7
    assert admin.get("/_admin/stats").json()["requests"]["status"] == 1


def test_an_unreachable_endpoint_raises_model_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    runpod = RunPodService(
        api_key=API_KEY,
        endpoint_id=ENDPOINT_ID,
        base_url=f"http://127.0.0.1:{closed_port}/v2",
        request_timeout_s=1,
    )
    # Refused at once; no retry loop (a hang would meet the hang guard, not pass).
    with pytest.raises(ModelUnavailable):
        submit(runpod, photo_payload())


def test_stats_count_submissions_by_job_ref(admin: httpx.Client, runpod: RunPodService) -> None:
    for job_ref in ("job-a", "job-a", "job-b"):
        submit(runpod, photo_payload(job_ref=job_ref))

    stats = admin.get("/_admin/stats").json()

    assert stats["submitted"] == 3
    assert stats["submitted_by_ref"] == {"job-a": 2, "job-b": 1}


def test_a_wrong_api_key_is_rejected(admin: httpx.Client, base_url: str) -> None:
    intruder = RunPodService(
        api_key="wrong-key", endpoint_id=ENDPOINT_ID, base_url=base_url, request_timeout_s=5
    )

    with pytest.raises(ModelFailed, match="401"):
        submit(intruder, photo_payload())

    assert admin.get("/_admin/stats").json()["submitted"] == 0


def test_an_unknown_job_is_reported_as_forgotten(runpod: RunPodService) -> None:
    with pytest.raises(ModelFailed, match="no longer knows"):
        runpod.status("no-such-job")

    runpod.cancel("no-such-job")  # nothing to cancel is not an error


def test_health_reports_jobs_and_workers(runpod: RunPodService) -> None:
    wait_for(runpod, submit(runpod, photo_payload()))

    health = runpod.health()

    assert health["jobs"]["completed"] >= 1
    assert health["workers"]["idle"] + health["workers"]["running"] == 2


def test_the_endpoint_shuts_down_while_a_job_runs(tmp_path: Path) -> None:
    # A job that runs longer than pytest lets the test live: a shutdown that waited for it
    # would be stopped by the hang guard below, not pass late.
    settings = Settings(
        home=tmp_path,
        runpod_api_key=API_KEY,
        runpod_endpoint_id=ENDPOINT_ID,
        faults=FaultSettings(execution_ms=3_600_000),
    )
    running = ExitStack()
    url = running.enter_context(running_endpoint(settings))
    try:
        runpod = RunPodService(
            api_key=API_KEY, endpoint_id=ENDPOINT_ID, base_url=url, request_timeout_s=5
        )
        job_id = submit(runpod, photo_payload())
        wait_for(runpod, job_id, lambda state: state.status == "IN_PROGRESS")
    except BaseException:
        running.close()
        raise
    stopping = threading.Thread(target=running.close, daemon=True)
    stopping.start()
    stopping.join(HANG_GUARD_S)
    assert not stopping.is_alive(), "the endpoint's shutdown waited for its running job"
