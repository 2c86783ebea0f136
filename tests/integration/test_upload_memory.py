"""Bounded work before payment: the API reads an upload's header only, so a small PNG that
decodes to 40 MP costs it next to no memory, and twenty at once leave it answering.

The API runs as its own process (tests/harness/processes.py); its peak memory is the kernel's
high-water mark (VmHWM), reset before each measurement through /proc/<pid>/clear_refs.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from heirloom.domain.tiers import Tier
from tests.harness.processes import ProcessStack, process_stack
from tests.support import photo_bytes, submit

MB = 1024 * 1024
PARALLEL = 20


def forty_megapixel_png() -> bytes:
    """~124 KiB on disk, 39.9 MP (120 MB of RGB) once decoded."""
    out = io.BytesIO()
    Image.new("RGB", (7300, 5470), (120, 110, 100)).save(out, "PNG", optimize=True)
    return out.getvalue()


def _status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def _reset_peak(pid: int) -> int:
    """Reset the process's peak resident memory to its current size; return that size."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _status(pid)["VmRSS"]


@pytest.fixture(scope="module")
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessStack]:
    home = tmp_path_factory.mktemp("processes")
    # One user sends every upload: the tier's caps are not what is measured here.
    env = {"HEIRLOOM_TIER_RULES": '{"paid": {"max_active_jobs": null, "daily_job_limit": null}}'}
    with process_stack(home, gpus=1, env=env) as stack:
        yield stack


@pytest.fixture
def client(processes: ProcessStack) -> Iterator[httpx.Client]:
    account = processes.services.accounts.create(
        email=f"{uuid.uuid4().hex[:10]}@example.com", tier=Tier.PAID, credits=1000
    )
    with httpx.Client(
        base_url=processes.api_url,
        headers={"Authorization": f"Bearer {account.api_key}"},
        timeout=120,
    ) as http:
        # Warm: imports, the Temporal client, the database pool.
        assert submit(http, photo_bytes(320, 240)).status_code == 202
        yield http


def test_a_small_png_of_40_megapixels_raises_the_apis_peak_memory_by_under_50_mb(
    processes: ProcessStack, client: httpx.Client
) -> None:
    png = forty_megapixel_png()
    assert len(png) < 130 * 1024
    api = processes.pids["api"]
    before = _reset_peak(api)
    response = submit(client, png)
    assert response.status_code == 202, response.text
    raised = _status(api)["VmHWM"] - before
    print(f"\none {len(png) / 1024:.0f} KiB 40 MP PNG: API peak +{raised / MB:.1f} MB")
    assert raised < 50 * MB, f"the API's peak memory rose {raised / MB:.1f} MB"
    job = client.get(f"/v1/jobs/{response.json()['id']}").json()
    assert (job["metadata"]["width"], job["metadata"]["height"]) == (7300, 5470)


def test_twenty_such_uploads_at_once_leave_the_api_answering(
    processes: ProcessStack, client: httpx.Client
) -> None:
    png = forty_megapixel_png()
    api = processes.pids["api"]
    before = _reset_peak(api)
    with ThreadPoolExecutor(PARALLEL + 1) as pool:
        uploads = [pool.submit(submit, client, png) for _ in range(PARALLEL)]
        health: list[float] = []
        with httpx.Client(base_url=processes.api_url, timeout=5) as probe:
            while not all(upload.done() for upload in uploads):
                started = time.monotonic()
                assert probe.get("/healthz").status_code == 200
                health.append(time.monotonic() - started)
                time.sleep(0.05)
        statuses = [upload.result().status_code for upload in uploads]
    raised = _status(api)["VmHWM"] - before
    print(
        f"\n{PARALLEL} at once: API peak +{raised / MB:.1f} MB, statuses {sorted(set(statuses))}, "
        f"/healthz slowest {max(health, default=0) * 1000:.0f} ms over {len(health)} probes"
    )
    assert statuses == [202] * PARALLEL
    assert health, "the uploads finished before a single probe"
    assert raised < 100 * MB, f"the API's peak memory rose {raised / MB:.1f} MB"
