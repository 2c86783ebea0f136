"""A restoration job through the real stack: HTTP API, Temporal, the RunPod endpoint, storage."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image, ImageChops, ImageStat
from sqlmodel import select

from heirloom.db.models import CreditEntry
from heirloom.domain.jobs import MODEL_PROGRESS_SPAN
from heirloom.domain.tiers import Tier
from heirloom.services.imaging.pipeline import COMPARISON_LONG_SIDE, THUMBNAIL_LONG_SIDE
from tests.conftest import Stack
from tests.support import (
    balance,
    fitted,
    photo_bytes,
    submit,
    wait_final,
    wait_until,
    watermark_share,
)


def wait_for_runpod_job(stack: Stack, job_id: str) -> str:
    return wait_until(lambda: stack.services.jobs.get(job_id).runpod_job_id, "the RunPod job")


def runpod_status(stack: Stack, runpod_job: str) -> str:
    return stack.services.runpod.status(runpod_job).status


def ledger(stack: Stack, job_id: str) -> list[tuple[str, int]]:
    with stack.services.db.session() as session:
        rows = session.exec(select(CreditEntry).where(CreditEntry.job_id == job_id)).all()
        return sorted((row.kind, row.amount) for row in rows)


def check_deliverables(
    stack: Stack, client: httpx.Client, job: dict[str, Any], original: tuple[int, int], tier: Tier
) -> None:
    """Result, thumbnail and comparison as the tier's rules promise, measured on the pixels."""
    rules = stack.settings.tier_rules[tier]
    size = fitted(original, rules.output_long_side)
    result = client.get(job["result_url"])
    assert result.status_code == 200
    assert result.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(result.content))
    assert image.format == "JPEG"
    assert image.size == size == (job["width"], job["height"])

    thumbnail = Image.open(io.BytesIO(client.get(job["thumbnail_url"]).content))
    assert thumbnail.size == fitted(size, THUMBNAIL_LONG_SIDE)

    model_key = stack.services.jobs.get(job["id"]).result_key
    assert model_key is not None
    clean = stack.services.storage.get(model_key.replace("/result.jpg", "/model/0.png"))
    share = watermark_share(result.content, clean)
    if rules.watermark:
        assert share > 0.01, f"no watermark on a {tier} result ({share:.4f})"
    else:
        assert share < 0.001, f"a {tier} result is marked ({share:.4f})"

    # Before | 4 px white divider | after, at one height, the long side within 1600 px.
    comparison = Image.open(io.BytesIO(client.get(job["comparison_url"]).content)).convert("RGB")
    height = comparison.height
    half = round(height * size[0] / size[1])  # before and after share the aspect ratio
    assert comparison.size == (2 * half + 4, height)
    assert max(comparison.size) <= COMPARISON_LONG_SIDE
    assert max(comparison.size) == COMPARISON_LONG_SIDE or height == size[1]
    # Mostly white: the free tier's watermark also crosses the divider.
    divider = comparison.crop((half + 1, 0, half + 3, height)).convert("L")
    assert ImageStat.Stat(divider).median[0] > 235, "the divider is not white"
    after = comparison.crop((half + 4, 0, 2 * half + 4, height))
    before = comparison.crop((0, 0, half, height))
    result_small = image.convert("RGB").resize(after.size)
    assert mean_difference(after, result_small) < mean_difference(before, result_small)


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


@pytest.mark.parametrize(
    ("tier", "original"),
    [
        (Tier.FREE, (2000, 1000)),
        (Tier.FREE, (1000, 2000)),
        (Tier.PAID, (2000, 1000)),
        (Tier.FOREVER, (1000, 2000)),
    ],
    ids=["free-landscape", "free-portrait", "paid-landscape", "forever-portrait"],
)
def test_a_job_completes_with_the_tiers_size_watermark_thumbnail_and_comparison(
    stack: Stack, tier: Tier, original: tuple[int, int]
) -> None:
    _, key = stack.new_user(tier=tier, credits=20)
    with stack.client(key) as client:
        response = submit(client, photo_bytes(*original))
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["status"] in ("queued", "running")
        assert job["credits_charged"] == 2
        assert job["operations"] == ["restore"]
        assert balance(client) == 18

        done = wait_final(client, job["id"])
        assert done["status"] == "completed", done
        assert done["progress"] == 100
        assert done["error"] is None
        check_deliverables(stack, client, done, original, tier)
        assert balance(client) == 18
    assert ledger(stack, job["id"]) == [("reserve", -2)]


def test_both_operations_cost_4(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=10)
    with stack.client(key) as client:
        response = submit(client, photo_bytes(640, 320), "restore,colorize")
        assert response.status_code == 202, response.text
        assert response.json()["credits_charged"] == 4
        assert response.json()["operations"] == ["restore", "colorize"]
        done = wait_final(client, response.json()["id"])
        assert done["status"] == "completed", done
        assert balance(client) == 6


def test_job_whose_model_fails_for_good_is_failed_and_refunded_once(faults: Stack) -> None:
    stack = faults
    stack.set_faults(failed=1.0)
    _, key = stack.new_user(tier=Tier.FREE, credits=20)
    with stack.client(key) as client:
        response = submit(client, photo_bytes())
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        done = wait_final(client, job_id)
        assert done["status"] == "failed"
        assert done["error"]["code"] == "model_failed"
        assert "refunded" in done["error"]["message"]
        assert done["credits_refunded"] == 2
        assert client.get(f"/v1/jobs/{job_id}/result").status_code == 409
        assert balance(client) == 20
    assert ledger(stack, job_id) == [("refund", 2), ("reserve", -2)]
    submitted = stack.runpod_stats()["submitted_by_ref"]
    assert isinstance(submitted, dict)
    assert submitted[job_id] == 2  # free tier: the model call gets two attempts


def test_job_cancelled_once_its_model_started_keeps_the_stated_part_and_cancels_runpod(
    faults: Stack,
) -> None:
    stack = faults
    stack.set_faults(execution_ms=20_000)
    _, key = stack.new_user(tier=Tier.FREE, credits=20)
    with stack.client(key) as client:
        pricing = client.get("/v1/pricing").json()
        assert pricing["cancel_kept_percent"] == 50
        assert "50% of the price" in pricing["cancel_rule"]
        job_id = submit(client, photo_bytes()).json()["id"]
        runpod_job = wait_for_runpod_job(stack, job_id)
        # The handler's progress report past the model step's start: the GPU is at work.
        wait_until(
            lambda: client.get(f"/v1/jobs/{job_id}").json()["progress"] > MODEL_PROGRESS_SPAN[0],
            "the model reported progress",
        )
        cancelled = client.post(f"/v1/jobs/{job_id}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        done = wait_final(client, job_id)
        assert done["status"] == "cancelled"
        assert done["error"]["code"] == "cancelled"
        assert (done["credits_charged"], done["credits_refunded"]) == (2, 1)
        assert balance(client) == 19
        again = client.post(f"/v1/jobs/{job_id}/cancel")
        assert again.status_code == 409
    assert ledger(stack, job_id) == [("refund", 1), ("reserve", -2)]
    assert runpod_status(stack, runpod_job) == "CANCELLED"


def test_non_image_upload_is_refused_without_charge(stack: Stack) -> None:
    _, key = stack.new_user(credits=20)
    with stack.client(key) as client:
        response = submit(client, b"%PDF-1.7 definitely not a photo")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "not_an_image"
        assert balance(client) == 20
        assert client.get("/v1/jobs").json()["jobs"] == []


def test_photo_with_too_many_pixels_is_413_without_charge(stack: Stack) -> None:
    _, key = stack.new_user(credits=20)
    huge = Image.new("L", (8000, 6000))  # 48 MP, over the 40 MP default; compresses to ~50 KB
    out = io.BytesIO()
    huge.save(out, "PNG")
    with stack.client(key) as client:
        response = submit(client, out.getvalue())
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == "image_too_large"
        assert "megapixel" in error["message"].lower()
        assert balance(client) == 20


def test_upload_over_the_size_limit_is_413_before_it_is_read(stack: Stack) -> None:
    _, key = stack.new_user(credits=20)
    too_big = b"\xff" * (stack.settings.max_upload_bytes + 128 * 1024)
    with stack.client(key) as client:
        response = submit(client, too_big)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "image_too_large"
        assert balance(client) == 20
        assert client.get("/v1/jobs").json()["jobs"] == []


def test_insufficient_credits_is_402_and_leaves_no_job(stack: Stack) -> None:
    _, key = stack.new_user(credits=1)
    with stack.client(key) as client:
        response = submit(client, photo_bytes())
        assert response.status_code == 402
        error = response.json()["error"]
        assert error["code"] == "insufficient_credits"
        assert "costs 2 credits" in error["message"]
        assert balance(client) == 1
        assert client.get("/v1/jobs").json()["jobs"] == []


def test_bad_operations_are_400(stack: Stack) -> None:
    _, key = stack.new_user()
    with stack.client(key) as client:
        response = submit(client, photo_bytes(), "sharpen")
        assert response.status_code == 400
        assert "unknown operation" in response.json()["error"]["message"]


def test_other_users_cannot_see_a_job_or_its_result(stack: Stack) -> None:
    _, owner_key = stack.new_user()
    _, other_key = stack.new_user()
    with stack.client(owner_key) as owner:
        job_id = submit(owner, photo_bytes()).json()["id"]
        assert wait_final(owner, job_id)["status"] == "completed"
    with stack.client(other_key) as other:
        for path in ("", "/result", "/thumbnail", "/comparison"):
            response = other.get(f"/v1/jobs/{job_id}{path}")
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"
        assert other.post(f"/v1/jobs/{job_id}/cancel").status_code == 404


def test_requests_without_a_valid_key_are_401(stack: Stack) -> None:
    with stack.client() as anonymous:
        assert anonymous.get("/v1/me").status_code == 401
    with stack.client("hl_wrong") as wrong:
        response = wrong.get("/v1/jobs")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
