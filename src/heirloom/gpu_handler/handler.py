"""The RunPod serverless handler: claim the run, read the photo, run the engine, deliver the result.

Input: {"operations": ["restore"] | ["colorize"] | ["restore", "colorize"],
"output_format": "PNG" | "JPEG", "job_ref", "generation", "seed"} (without a seed, the
job_ref's seed), the photo as "image_base64" or
"image_url" (a presigned GET), and optionally:
- "claim": {"put_url", "put_headers", "get_url"} (presigned, S3) or {"key"} (a storage the
  host shares, the local endpoint): before any model work the handler creates the claim object
  if absent; if another RunPod job created it, the answer is {"duplicate_of": <its id>} at once;
- "output": {"put_url", "put_headers", "key", "delete_url"}: the result is PUT there and the
  answer carries "output_key" instead of "image_base64".
A returned {"error": ...} makes RunPod mark the job FAILED; an exception does too, with its
traceback. While it runs, the handler reports {"stage", "step", "total", "percent"} as RunPod
progress, in the order of domain/model_progress.py. Everything stays in memory: nothing is left
on the GPU worker's disk.

Cancel: RunPod's /cancel cannot interrupt a synchronous handler, so the backend withdraws the
job's claim when it cancels (and an erasure deletes it with the user's files). The handler
checks that its claim still stands after every denoising step and before the upload, and stops
within one step when it is gone, answering {"cancelled": true, "stage", "step", "total"}. After
an upload it checks once more and deletes its output through "delete_url" if the claim went
meanwhile, so a cancelled or erased job leaves nothing in storage.

A fatal GPU error (CUDA out of memory, an illegal memory access) fails the job as a worker
fault (domain/model_progress.py: the backend retries it as transient) and asks RunPod for a
fresh worker (`refresh_worker`): a worker whose CUDA context is broken takes no more jobs.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import requests
from PIL import Image, UnidentifiedImageError

from heirloom.config import Settings, environment_errors
from heirloom.domain.jobs import Operation
from heirloom.domain.model_progress import WORKER_FAULT_PREFIX, ModelStage
from heirloom.domain.seeds import SEED_LIMIT, job_seed
from heirloom.gpu_handler.engines import Engine, engine_named
from heirloom.gpu_handler.progress import Progress, ProgressReporter, ignore_progress
from heirloom.gpu_handler.weights import weights_cache_problem


class ClaimStore(Protocol):
    """What the handler needs of its host's storage to hold claims given by key (the local
    endpoint passes its own storage; on RunPod claims travel as presigned URLs)."""

    def create(self, key: str, data: bytes, *, content_type: str) -> bool:
        """Store `data` only if nothing is stored under `key`; False if something already is."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes."""
        ...

    def exists(self, key: str) -> bool:
        """Whether something is stored under `key`."""
        ...


# The handler's contract with the backend, recorded with every job it runs (its provenance):
# raised when what the handler does with a job's input changes.
HANDLER_VERSION = "2026.12.7"
INPUT_FORMATS = ("JPEG", "PNG")
OUTPUT_FORMATS = ("PNG", "JPEG")
_JPEG_QUALITY = 95
# Transfers are presigned S3 requests: bounded, and a failure fails the job (the worker retries).
_TRANSFER_TIMEOUT_S = 60.0


class BadInput(ValueError):
    """The job's input breaks the contract; the message goes back to the caller."""


class JobCancelled(Exception):
    """The job's claim was withdrawn (cancel or erasure): the work stops at `progress`."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(f"cancelled at {progress.stage} step {progress.step}/{progress.total}")
        self.progress = progress


# What a fatal GPU error says of itself: the CUDA context (or the card's memory) is unusable.
_FATAL_GPU_MARKERS = (
    "CUDA error",
    "CUDA out of memory",
    "illegal memory access",
    "CUBLAS_STATUS",
    "CUDNN_STATUS",
    "device-side assert",
)


def is_fatal_gpu_error(exc: BaseException) -> bool:
    """Whether `exc` leaves the worker's GPU unusable (torch is not imported for the check)."""
    if type(exc).__name__ in ("OutOfMemoryError", "AcceleratorError"):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc) for m in _FATAL_GPU_MARKERS)


def run_job(
    job: Mapping[str, Any],
    engine: Engine,
    storage: ClaimStore | None = None,
    progress: ProgressReporter = ignore_progress,
) -> dict[str, Any]:
    """Process one RunPod job with `engine`; bad input becomes {"error": <message>}.

    `storage` is the host's own storage, for claims given by key (the local endpoint).
    """
    raw = job.get("input")
    if not isinstance(raw, Mapping):
        return {"error": "input must be an object"}
    runpod_job_id = str(job.get("id", ""))
    last = Progress(ModelStage.LOADING, 0, 1)
    try:
        operations, output_format = _parse_input(raw)
        seed = _parse_seed(raw)
        claimant = claim_run(raw, runpod_job_id, storage)
        if claimant is not None:
            return {"duplicate_of": claimant}
        progress(last)
        image = _decode_image(read_input_image(raw))
    except BadInput as exc:
        return {"error": str(exc)}

    def held() -> bool:
        return claim_holds(raw, runpod_job_id, storage)

    def checked(report: Progress) -> None:
        nonlocal last
        last = report
        progress(report)
        # Between denoising steps: the GPU stops within one step of a withdrawn claim.
        if report.stage is ModelStage.DENOISING and not held():
            raise JobCancelled(report)

    try:
        result = engine.apply(image, operations, seed=seed, progress=checked)
        uploading = Progress(ModelStage.UPLOADING, last.total, last.total)
        if not held():
            raise JobCancelled(uploading)
        checked(uploading)
        delivered = deliver_output(raw, _encode(result, output_format))
        if "output_key" in delivered and not held():
            # Withdrawn while the result was on its way: take it back.
            withdraw_output(raw)
            raise JobCancelled(uploading)
    except JobCancelled as stop:
        return {"cancelled": True, **stop.progress.to_dict()}
    except Exception as exc:
        if not is_fatal_gpu_error(exc):
            raise
        return {
            "error": f"{WORKER_FAULT_PREFIX}{type(exc).__name__}: {exc}"[:1000],
            "refresh_worker": True,
        }
    return {
        **delivered,
        "format": output_format,
        "width": result.width,
        "height": result.height,
        "engine": engine.name,
        "model": engine.model,
        "provenance": {
            **engine.provenance,
            "engine": engine.name,
            "seed": seed,
            "handler_version": HANDLER_VERSION,
        },
    }


def handler(job: dict[str, Any]) -> dict[str, Any]:
    """RunPod's entry point: process one job with the engine chosen by HEIRLOOM_ENGINE."""
    return run_job(job, _configured_engine(), progress=runpod_progress(job))


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


def _parse_input(raw: Mapping[str, Any]) -> tuple[tuple[Operation, ...], str]:
    output_format = raw.get("output_format", "PNG")
    if output_format not in OUTPUT_FORMATS:
        raise BadInput(f"output_format must be one of {', '.join(OUTPUT_FORMATS)}")
    return _parse_operations(raw.get("operations")), output_format


def _parse_operations(raw: Any) -> tuple[Operation, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadInput("operations must be a non-empty list of: restore, colorize")
    try:
        requested = {Operation(name) for name in raw}
    except ValueError:
        raise BadInput(f"unknown operation in {raw!r}; use restore and/or colorize") from None
    # Restoring first keeps the colouring from tinting scratches and dust.
    return tuple(op for op in Operation if op in requested)


def _decode_image(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data), formats=INPUT_FORMATS)
        # Checked before decoding pixels so a decompression bomb never reaches memory.
        limit = Image.MAX_IMAGE_PIXELS
        if limit is not None and image.width * image.height > limit:
            raise BadInput(f"image is too large: {image.width}x{image.height} pixels")
        image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise BadInput("the image is not a readable JPEG or PNG image") from None
    except OSError:
        raise BadInput("the image is damaged or truncated") from None
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


# --- claim and transfer: exactly one model run per job generation, images through S3 ------


@dataclass(frozen=True)
class _Claim:
    runpod_job_id: str
    job_ref: str | None
    generation: int | None

    def encode(self) -> bytes:
        return json.dumps(
            {
                "runpod_job_id": self.runpod_job_id,
                "job_ref": self.job_ref,
                "generation": self.generation,
            }
        ).encode()


def claim_run(raw: Mapping[str, Any], runpod_job_id: str, storage: ClaimStore | None) -> str | None:
    """Create this job's claim if absent; the claimant's RunPod id if another job holds it.

    A claim held by this very RunPod job means RunPod runs it again after losing the first
    execution, so the run goes on. Without a "claim" in the input nothing is claimed.
    """
    spec = raw.get("claim")
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise BadInput("claim must be an object")
    generation = raw.get("generation")
    mine = _Claim(
        runpod_job_id=runpod_job_id,
        job_ref=_optional_str(raw.get("job_ref")),
        generation=generation if isinstance(generation, int) else None,
    )
    if "key" in spec:
        if storage is None:
            raise BadInput("a claim by storage key needs a host with storage; send URLs")
        key = str(spec["key"])
        if storage.create(key, mine.encode(), content_type="application/json"):
            return None
        holder = storage.get(key)
    else:
        holder_or_none = _claim_by_urls(spec, mine.encode())
        if holder_or_none is None:
            return None
        holder = holder_or_none
    claimant = _claimant(holder)
    return None if claimant == runpod_job_id else claimant


def _claim_by_urls(spec: Mapping[str, Any], body: bytes) -> bytes | None:
    """PUT the claim with If-None-Match: *; on 412, GET the claim that is there."""
    created = requests.put(
        _url(spec, "put_url"), data=body, headers=_headers(spec), timeout=_TRANSFER_TIMEOUT_S
    )
    if created.status_code == 412:
        holder = requests.get(_url(spec, "get_url"), timeout=_TRANSFER_TIMEOUT_S)
        holder.raise_for_status()
        return holder.content
    created.raise_for_status()
    return None


def claim_holds(raw: Mapping[str, Any], runpod_job_id: str, storage: ClaimStore | None) -> bool:
    """Whether this job's claim still stands for this RunPod job; always True without a claim.

    The backend deletes the claim to cancel the job, an erasure with the user's files; an
    expired GET URL (403) means the backend stopped waiting long ago.
    """
    spec = raw.get("claim")
    if not isinstance(spec, Mapping):
        return True
    if "key" in spec:
        if storage is None:
            return True
        key = str(spec["key"])
        try:
            holder = storage.get(key)
        except Exception:
            if storage.exists(key):
                raise
            return False
    else:
        answer = requests.get(_url(spec, "get_url"), timeout=_TRANSFER_TIMEOUT_S)
        if answer.status_code in (403, 404):
            return False
        answer.raise_for_status()
        holder = answer.content
    try:
        return _claimant(holder) == runpod_job_id
    except BadInput:
        return False


def withdraw_output(raw: Mapping[str, Any]) -> None:
    """Delete the delivered result through its presigned DELETE URL (when one was given)."""
    spec = raw.get("output")
    if not isinstance(spec, Mapping) or not spec.get("delete_url"):
        return
    answer = requests.delete(_url(spec, "delete_url"), timeout=_TRANSFER_TIMEOUT_S)
    if answer.status_code != 404:
        answer.raise_for_status()


def _claimant(holder: bytes) -> str:
    try:
        claimant = json.loads(holder)["runpod_job_id"]
    except (ValueError, KeyError, TypeError):
        raise BadInput("the job's claim object is not a claim") from None
    return str(claimant)


def read_input_image(raw: Mapping[str, Any]) -> bytes:
    """The photo's bytes: inline base64, or fetched from a presigned URL."""
    url = raw.get("image_url")
    if url is not None:
        if not isinstance(url, str) or not url:
            raise BadInput("image_url must be a non-empty URL")
        answer = requests.get(url, timeout=_TRANSFER_TIMEOUT_S)
        if answer.status_code in (403, 404):
            raise BadInput(f"image_url answered HTTP {answer.status_code} (expired or missing)")
        answer.raise_for_status()
        return answer.content
    encoded = raw.get("image_base64")
    if not isinstance(encoded, str) or not encoded:
        raise BadInput("image_base64 must be a non-empty base64 string (or give image_url)")
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise BadInput("image_base64 is not valid base64") from None


def deliver_output(raw: Mapping[str, Any], data: bytes) -> dict[str, Any]:
    """PUT the result to the presigned output URL if one is given, else return it inline."""
    spec = raw.get("output")
    if spec is None:
        return {"image_base64": base64.b64encode(data).decode("ascii")}
    if not isinstance(spec, Mapping):
        raise BadInput("output must be an object")
    answer = requests.put(
        _url(spec, "put_url"), data=data, headers=_headers(spec), timeout=_TRANSFER_TIMEOUT_S
    )
    answer.raise_for_status()
    return {"output_key": str(spec.get("key", ""))}


def _url(spec: Mapping[str, Any], name: str) -> str:
    url = spec.get(name)
    if not isinstance(url, str) or not url:
        raise BadInput(f"{name} must be a non-empty URL")
    return url


def _headers(spec: Mapping[str, Any]) -> dict[str, str]:
    headers = spec.get("put_headers", {})
    if not isinstance(headers, Mapping):
        raise BadInput("put_headers must be an object")
    return {str(k): str(v) for k, v in headers.items()}


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


if __name__ == "__main__":
    import sys

    import runpod

    # A mistyped HEIRLOOM_* variable would otherwise be ignored: refuse it before loading.
    if errors := environment_errors():
        sys.exit("\n".join(f"error: {error}" for error in errors))
    if (problem := weights_cache_problem()) is not None:
        sys.exit(f"error: {problem}")
    # Load the model at cold start, not inside the first job's execution time.
    _configured_engine()
    runpod.serverless.start({"handler": handler})
