"""Each job records what made its result: the handler's model label reaches the job's JSON and
the cost report."""

from __future__ import annotations

from datetime import timedelta

from heirloom.config import QwenSettings
from heirloom.db.models import utcnow
from heirloom.domain.tiers import Tier
from heirloom.gpu_handler.engines import CpuEngine, model_label
from tests.conftest import Stack
from tests.support import photo_bytes, submit, wait_final


def test_a_completed_job_names_its_model_in_its_json_and_the_cost_report(stack: Stack) -> None:
    _, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client:
        job_id = submit(client, photo_bytes(seed=52)).json()["id"]
        done = wait_final(client, job_id)
    assert done["status"] == "completed"
    assert done["model"] == CpuEngine.model
    assert stack.services.jobs.get(job_id).model == CpuEngine.model
    now = utcnow()
    report = stack.services.costs.report("day", now - timedelta(days=1), now + timedelta(hours=1))
    assert report.totals.by_model.get(CpuEngine.model, 0) >= 1


def test_the_gpu_model_label_names_model_lora_revisions_and_sampling() -> None:
    lightning = QwenSettings(revision="a" * 40, lora_revision="b" * 40)
    assert model_label(lightning) == (
        f"Qwen/Qwen-Image-Edit-2511@{'a' * 40} + lightx2v/Qwen-Image-Edit-2511-Lightning/"
        f"Qwen-Image-Edit-2511-Lightning-8steps-V1.0-bf16.safetensors@{'b' * 40} "
        "(8 steps, CFG 1.0)"
    )
    full = QwenSettings(lora_id=None)
    assert model_label(full) == "Qwen/Qwen-Image-Edit-2511@default (40 steps, CFG 4.0)"
