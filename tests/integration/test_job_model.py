"""Each job records what made its result: the handler's model label and its fields (seed and
handler version too) reach the job's JSON, the export and the cost report. A HEIC photo from a
phone restores end to end and its result downloads as JPEG or PNG, each with the AI note."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

from PIL import Image, PngImagePlugin

from heirloom.config import QwenSettings
from heirloom.db.models import utcnow
from heirloom.domain.seeds import job_seed
from heirloom.domain.tiers import Tier
from heirloom.gpu_handler.engines import CpuEngine, model_label, model_provenance
from heirloom.gpu_handler.handler import HANDLER_VERSION
from heirloom.services.imaging import provenance
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
    assert report.totals.by_handler_version.get(HANDLER_VERSION, 0) >= 1


def test_a_heic_photo_restores_end_to_end_and_names_its_model_and_seed(stack: Stack) -> None:
    user_id, key = stack.new_user(tier=Tier.PAID, credits=20)
    image = Image.open(io.BytesIO(photo_bytes(96, 64, seed=53)))
    exif = Image.Exif()
    exif[0x0112] = 6  # held sideways: the result is upright, 64 wide
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)
    heic = io.BytesIO()
    image.save(heic, "HEIF", exif=exif.tobytes())
    with stack.client(key) as client:
        response = client.post(
            "/v1/jobs",
            files={"file": ("IMG_0001.HEIC", heic.getvalue(), "image/heic")},
            data={"operations": "restore"},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        done = wait_final(client, job_id)
        jpeg = client.get(f"/v1/jobs/{job_id}/result")
        png = client.get(f"/v1/jobs/{job_id}/result", params={"format": "png"})
        original = client.get(f"/v1/jobs/{job_id}/original")
        refused = client.get(f"/v1/jobs/{job_id}/result", params={"format": "gif"})
    assert done["status"] == "completed", done
    assert done["metadata"]["format"] == "HEIF"
    assert (done["width"], done["height"]) == (64, 96)
    assert done["model"] == CpuEngine.model
    assert done["provenance"] == {
        **CpuEngine.provenance,
        "engine": CpuEngine.name,
        "seed": job_seed(job_id),
        "handler_version": HANDLER_VERSION,
    }
    assert original.headers["content-type"] == "image/heic"
    result = Image.open(io.BytesIO(jpeg.content))
    assert (result.format, result.size) == ("JPEG", (64, 96))
    assert provenance.DIGITAL_SOURCE_TYPE.encode() in result.info["xmp"]
    assert not result.getexif().get_ifd(0x8825)
    as_png = Image.open(io.BytesIO(png.content))
    assert isinstance(as_png, PngImagePlugin.PngImageFile)
    assert (png.headers["content-type"], as_png.format, as_png.size) == (
        "image/png",
        "PNG",
        (64, 96),
    )
    assert as_png.text["Description"] == provenance.AI_NOTE
    assert refused.status_code == 422
    actions = [entry.action for entry in stack.services.audit.query(user_id)]
    assert actions.count("result") == 2

    exporter = stack.services.exporter
    export = exporter.request(user_id, daily_limit=5)
    built = exporter.build(user_id, export.id, valid_s=60)
    with zipfile.ZipFile(io.BytesIO(stack.services.storage.get(built.key))) as zipped:
        exported = json.loads(zipped.read("jobs.json"))
    assert [job["provenance"]["seed"] for job in exported] == [job_seed(job_id)]


def test_the_gpu_model_label_names_model_lora_revisions_and_sampling() -> None:
    lightning = QwenSettings(revision="a" * 40, lora_revision="b" * 40)
    assert model_label(lightning) == (
        f"Qwen/Qwen-Image-Edit-2511@{'a' * 40} + lightx2v/Qwen-Image-Edit-2511-Lightning/"
        f"Qwen-Image-Edit-2511-Lightning-8steps-V1.0-bf16.safetensors@{'b' * 40} "
        "(8 steps, CFG 1.0)"
    )
    full = QwenSettings(lora_id=None)
    assert model_label(full) == "Qwen/Qwen-Image-Edit-2511@default (40 steps, CFG 4.0)"


def test_the_gpu_models_provenance_has_the_labels_fields() -> None:
    lightning = QwenSettings(revision="a" * 40, lora_revision="b" * 40)
    assert model_provenance(lightning) == {
        "model_id": "Qwen/Qwen-Image-Edit-2511",
        "revision": "a" * 40,
        "lora": "lightx2v/Qwen-Image-Edit-2511-Lightning/"
        "Qwen-Image-Edit-2511-Lightning-8steps-V1.0-bf16.safetensors",
        "lora_revision": "b" * 40,
        "steps": 8,
        "cfg": 1.0,
    }
    full = model_provenance(QwenSettings(lora_id=None))
    assert (full["revision"], full["lora"], full["steps"], full["cfg"]) == (None, None, 40, 4.0)
