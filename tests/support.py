"""Helpers shared by the test suite: servers in threads, free ports, generated photos."""

from __future__ import annotations

import io
import random
import time
import uuid
from typing import Any

import httpx
from PIL import Image, ImageDraw

from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.credits import NewJob
from heirloom.services.jobs import ResultKeys

FINAL_STATUSES = ("completed", "failed", "cancelled")


def submit(
    client: httpx.Client, data: bytes, operations: str = "restore", key: str | None = None
) -> httpx.Response:
    """POST /v1/jobs with a photo, as a client app would."""
    return client.post(
        "/v1/jobs",
        files={"file": ("photo.jpg", data, "image/jpeg")},
        data={"operations": operations},
        headers={"Idempotency-Key": key} if key is not None else {},
    )


def wait_final(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll GET /v1/jobs/{id} until the job is completed, failed or cancelled."""
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in FINAL_STATUSES:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s: {job}")


def wait_stage(client: httpx.Client, job_id: str, stage: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get(f"/v1/jobs/{job_id}").json()["stage"] == stage:
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached stage {stage}")


def balance(client: httpx.Client) -> int:
    value: int = client.get("/v1/me").json()["balance"]
    return value


def photo_bytes(
    width: int = 640, height: int = 480, *, fmt: str = "JPEG", seed: int = 1, mode: str = "RGB"
) -> bytes:
    """A photo-like image (gradients, shapes, grain) encoded as `fmt`; Pillow only."""
    rng = random.Random(seed)
    gradient = Image.linear_gradient("L").resize((width, height))
    grain = Image.effect_noise((width, height), 40)
    image = Image.merge(
        "RGB",
        (
            gradient,
            Image.blend(gradient.rotate(90).resize((width, height)), grain, 0.3),
            Image.blend(gradient, grain, 0.5),
        ),
    )
    draw = ImageDraw.Draw(image)
    for i in range(6):
        x0, y0 = rng.randrange(0, width - 10), rng.randrange(0, height - 10)
        draw.ellipse(
            (x0, y0, x0 + width // 5, y0 + height // 5),
            fill=(40 * i % 255, 90, 200 - 20 * i),
        )
    if mode != "RGB":
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def completed_job(services: Services, user_id: str, size: int) -> str:
    """A completed job whose result is `size` bytes in storage (no worker needed)."""
    job_id = uuid.uuid4().hex
    prefix = f"users/{user_id}/jobs/{job_id}"
    for name in ("original.jpg", "input.jpg", "result.jpg", "thumb.jpg", "compare.jpg"):
        services.storage.put(f"{prefix}/{name}", b"\xff" * size, content_type="image/jpeg")
    services.credits.reserve(
        NewJob(job_id, user_id, "restore", Tier.PAID, f"{prefix}/original.jpg")
    )
    services.jobs.complete(
        job_id,
        ResultKeys(
            input_key=f"{prefix}/input.jpg",
            result_key=f"{prefix}/result.jpg",
            thumbnail_key=f"{prefix}/thumb.jpg",
            comparison_key=f"{prefix}/compare.jpg",
            width=10,
            height=10,
        ),
    )
    return job_id
