"""The RunPod serverless handler: decode the photo, run the engine, return the encoded result.

Input: {"image_base64", "operations": ["restore"] | ["colorize"] | ["restore", "colorize"],
"output_format": "PNG" | "JPEG", "job_ref", "seed"}; without a seed, the job_ref's seed.
While it runs, the handler reports {"stage", "step", "total", "percent"} as RunPod progress.
A returned {"error": ...} makes RunPod mark the job FAILED; an exception does too, with its
traceback.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Mapping
from functools import cache
from typing import Any

from PIL import Image, UnidentifiedImageError

from heirloom.config import Settings
from heirloom.domain.jobs import Operation
from heirloom.domain.seeds import SEED_LIMIT, job_seed
from heirloom.runpod_worker.engines import Engine, engine_named
from heirloom.runpod_worker.progress import Progress, ProgressReporter, ignore_progress

INPUT_FORMATS = ("JPEG", "PNG")
OUTPUT_FORMATS = ("PNG", "JPEG")
_JPEG_QUALITY = 95


class BadInput(ValueError):
    """The job's input breaks the contract; the message goes back to the caller."""


def run_job(
    job: Mapping[str, Any], engine: Engine, progress: ProgressReporter = ignore_progress
) -> dict[str, Any]:
    """Process one RunPod job with `engine`; bad input becomes {"error": <message>}."""
    try:
        image, operations, output_format = _parse_input(job.get("input"))
        seed = _parse_seed(job["input"])
    except BadInput as exc:
        return {"error": str(exc)}
    result = engine.apply(image, operations, seed=seed, progress=progress)
    return {
        "image_base64": base64.b64encode(_encode(result, output_format)).decode("ascii"),
        "format": output_format,
        "width": result.width,
        "height": result.height,
        "engine": engine.name,
    }


def handler(job: dict[str, Any]) -> dict[str, Any]:
    """RunPod's entry point: process one job with the engine chosen by HEIRLOOM_ENGINE."""
    return run_job(job, _configured_engine(), runpod_progress(job))


@cache
def _configured_engine() -> Engine:
    # The GPU container sets HEIRLOOM_ENGINE=qwen; everything else runs the CPU stand-in.
    settings = Settings()
    return engine_named(settings.engine, settings.qwen)


def runpod_progress(job: Mapping[str, Any]) -> ProgressReporter:
    """Report progress through RunPod, which shows it as the IN_PROGRESS job's output."""
    import runpod

    def report(progress: Progress) -> None:
        runpod.serverless.progress_update(job, progress.to_dict())

    return report


def _parse_seed(raw: Mapping[str, Any]) -> int:
    seed = raw.get("seed")
    if seed is None:
        ref = raw.get("job_ref")
        return job_seed(ref) if isinstance(ref, str) and ref else 0
    # bool is an int subclass; `true` is no seed.
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise BadInput(f"seed must be an integer from 0 to {SEED_LIMIT - 1}")
    return seed


def _parse_input(raw: Any) -> tuple[Image.Image, tuple[Operation, ...], str]:
    if not isinstance(raw, Mapping):
        raise BadInput("input must be an object")
    output_format = raw.get("output_format", "PNG")
    if output_format not in OUTPUT_FORMATS:
        raise BadInput(f"output_format must be one of {', '.join(OUTPUT_FORMATS)}")
    operations = _parse_operations(raw.get("operations"))
    return _decode_image(raw.get("image_base64")), operations, output_format


def _parse_operations(raw: Any) -> tuple[Operation, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadInput("operations must be a non-empty list of: restore, colorize")
    try:
        requested = {Operation(name) for name in raw}
    except ValueError:
        raise BadInput(f"unknown operation in {raw!r}; use restore and/or colorize") from None
    # Restoring first keeps the colouring from tinting scratches and dust.
    return tuple(op for op in Operation if op in requested)


def _decode_image(raw: Any) -> Image.Image:
    if not isinstance(raw, str) or not raw:
        raise BadInput("image_base64 must be a non-empty base64 string")
    try:
        data = base64.b64decode(raw, validate=True)
    except binascii.Error:
        raise BadInput("image_base64 is not valid base64") from None
    try:
        image = Image.open(io.BytesIO(data), formats=INPUT_FORMATS)
        # Checked before decoding pixels so a decompression bomb never reaches memory.
        limit = Image.MAX_IMAGE_PIXELS
        if limit is not None and image.width * image.height > limit:
            raise BadInput(f"image is too large: {image.width}x{image.height} pixels")
        image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise BadInput("image_base64 is not a readable JPEG or PNG image") from None
    except OSError:
        raise BadInput("image_base64 holds a damaged or truncated image") from None
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        # Old-photo scans with transparency are flattened onto white, like paper.
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _encode(image: Image.Image, output_format: str) -> bytes:
    buffer = io.BytesIO()
    if output_format == "JPEG":
        image.convert("RGB").save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


if __name__ == "__main__":
    import runpod

    # Load the model at cold start, not inside the first job's execution time.
    _configured_engine()
    runpod.serverless.start({"handler": handler})
