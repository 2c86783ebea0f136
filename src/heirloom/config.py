"""The one Settings object: every value comes from `HEIRLOOM_*` variables or defaults.

Each field carries its description and, through `about`, who sets it and its section: the
reference `docs/configuration.md` is generated from them (`make config-docs`).
"""

from __future__ import annotations

import difflib
import os
import typing
from collections.abc import Iterator, Mapping
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic.config import JsonDict
from pydantic_settings import BaseSettings, SettingsConfigDict

from heirloom.domain.pricing import Prices
from heirloom.domain.tiers import DEFAULT_TIER_RULES, Tier, TierRules

# Who sets a value: an operator running Heirloom, a developer on their machine or a benchmark,
# or the test suite and its harnesses.
Audience = Literal["operator", "developer", "tests"]

# The reference's sections, in its order.
Section = Literal[
    "Home and database",
    "Temporal",
    "Storage",
    "RunPod",
    "GPU engine",
    "API",
    "Webhooks",
    "Quality gate",
    "Worker",
    "GPU queue",
    "Schedules",
    "Prices and tiers",
    "Costs and budgets",
    "Payments and sign-up",
    "Alerts",
    "Observability",
    "Abuse and rate limits",
    "Backups",
    "Local dev stack",
]


def about(audience: Audience, section: Section | None = None) -> JsonDict:
    """A field's `json_schema_extra`: who sets it and, for `Settings`' own fields, its section.

    Fields of a nested model take their section, and their audience where they declare none
    (Prices, TierRules: the domain knows nothing of configuration), from the field holding it.
    """
    return {"audience": audience} if section is None else {"audience": audience, "section": section}


ENV_PREFIX = "HEIRLOOM_"
NESTED_DELIMITER = "__"


class FaultSettings(BaseModel):
    """Faults the local RunPod endpoint injects, for tests (probabilities 0..1, times in ms).

    Set with HEIRLOOM_FAULTS__<NAME>, or at run time through the endpoint's admin route.
    """

    latency_ms: int = Field(
        default=0,
        ge=0,
        description="Delay added to every /v2 request the endpoint answers, in milliseconds.",
        json_schema_extra=about("tests"),
    )
    http_5xx: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Probability (0..1) that a /run or /status request answers 500 or 503.",
        json_schema_extra=about("tests"),
    )
    http_429: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Probability (0..1) that a /run or /status request answers 429.",
        json_schema_extra=about("tests"),
    )
    failed: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Probability (0..1) that a submitted job ends FAILED.",
        json_schema_extra=about("tests"),
    )
    stuck_in_queue: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Probability (0..1) that a submitted job stays IN_QUEUE and never runs.",
        json_schema_extra=about("tests"),
    )
    timeout: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Probability (0..1) that a submitted job ends TIMED_OUT.",
        json_schema_extra=about("tests"),
    )
    execution_ms: int = Field(
        default=0,
        ge=0,
        description=(
            "Extra simulated GPU time per job, in milliseconds, reported as the model's "
            "denoising steps through the handler."
        ),
        json_schema_extra=about("tests"),
    )
    cancel_mode: Literal["interrupt", "runpod"] = Field(
        default="interrupt",
        description=(
            "What /cancel does to a running job: interrupt stops its simulated GPU time; "
            "runpod behaves like RunPod (the job reads CANCELLED, the handler runs on until "
            "its own cancel check stops it)."
        ),
        json_schema_extra=about("tests"),
    )
    rate_limit_per_s: float = Field(
        default=0.0,
        ge=0,
        description=(
            "RunPod's per-endpoint request limit, scaled down: /run, /status and /cancel "
            "requests beyond this many in one second answer 429 (0: no limit)."
        ),
        json_schema_extra=about("tests"),
    )
    retry_after_s: int = Field(
        default=1,
        ge=0,
        description="Retry-After of every 429 the endpoint answers, in seconds (0: none).",
        json_schema_extra=about("tests"),
    )
    blank_output: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Probability (0..1) that a submitted job's output image is blank.",
        json_schema_extra=about("tests"),
    )
    cropped_output: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Probability (0..1) that a submitted job's output image is cut to a strip.",
        json_schema_extra=about("tests"),
    )
    different_face: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "Probability (0..1) that a submitted job's output has another photo's face pasted "
            "over each of its faces."
        ),
        json_schema_extra=about("tests"),
    )


class EndpointSettings(BaseModel):
    """One RunPod endpoint of the GPU pool (an item of HEIRLOOM_RUNPOD_ENDPOINTS).

    Slots and request budgets are this worker process's share of the endpoint: with several GPU
    worker processes, divide the endpoint's GPUs and RunPod's limits between them.
    """

    id: str = Field(min_length=1, max_length=100, description="The RunPod endpoint id.")
    base_url: str | None = Field(
        default=None, description="Its API's base URL (unset: HEIRLOOM_RUNPOD_BASE_URL)."
    )
    gpu_slots: int = Field(ge=1, description="Its GPUs (max workers) this process may fill.")
    run_per_10s: float = Field(
        default=1000, gt=0, description="Most /run requests per 10 s (RunPod: 1,000)."
    )
    status_per_10s: float = Field(
        default=2000, gt=0, description="Most /status requests per 10 s (RunPod: 2,000)."
    )
    cancel_per_10s: float = Field(
        default=100, gt=0, description="Most /cancel requests per 10 s (RunPod: 100)."
    )
    price_per_s_usd: float | None = Field(
        default=None,
        ge=0,
        description="What its GPU costs per second, in USD (unset: HEIRLOOM_GPU_PRICE_PER_S_USD).",
    )
    tiers: list[Tier] = Field(
        default_factory=list, description="The tiers whose jobs it runs (empty: every tier)."
    )
    prefetch: int | None = Field(
        default=None,
        ge=0,
        le=256,
        description=(
            "Jobs admitted beyond its slots, waiting at RunPod for the next free GPU (unset: "
            "HEIRLOOM_GPU_PREFETCH_PER_ENDPOINT). An endpoint of many GPUs ends runs faster "
            "than one prefetched job is replaced: about its runs ending per second times "
            "the worker's hand-off (a poll margin and a Temporal dispatch, ~0.2 s)."
        ),
    )

    def prefetch_or(self, default: int) -> int:
        return default if self.prefetch is None else self.prefetch


class QwenSettings(BaseModel):
    """The GPU engine's model, sampling and memory choices (HEIRLOOM_QWEN__<NAME>).

    README "GPU engine" gives VRAM, seconds and cost per choice, with sources.
    """

    model_id: str = Field(
        default="Qwen/Qwen-Image-Edit-2511",
        description="The model: a Hugging Face repository or a local folder.",
        json_schema_extra=about("operator"),
    )
    revision: str | None = Field(
        default=None,
        description=(
            "The model repository's commit the worker loads (unset: the default branch); "
            "Dockerfile.runpod bakes exactly this commit."
        ),
        json_schema_extra=about("operator"),
    )
    pipeline: Literal["QwenImageEditPlusPipeline", "QwenImageEditPipeline"] = Field(
        default="QwenImageEditPlusPipeline",
        description=(
            "The diffusers pipeline: the Plus one for the 2509 and 2511 releases, "
            "QwenImageEditPipeline for the first release."
        ),
        json_schema_extra=about("operator"),
    )
    steps: int = Field(
        default=40,
        ge=1,
        description="Sampling steps without a LoRA.",
        json_schema_extra=about("operator"),
    )
    true_cfg_scale: float = Field(
        default=4.0,
        ge=1.0,
        description="True CFG scale without a LoRA; above 1 the model runs twice per step.",
        json_schema_extra=about("operator"),
    )
    working_pixels: int = Field(
        default=1024 * 1024,
        ge=32 * 32,
        description=(
            "The area the model draws at, in pixels, in the input's aspect ratio (the result "
            "is resized back); GPU seconds grow with it."
        ),
        json_schema_extra=about("operator"),
    )
    dtype: Literal["bfloat16", "float16", "float32"] = Field(
        default="bfloat16",
        description="The weights' and activations' number type.",
        json_schema_extra=about("operator"),
    )
    device: str = Field(
        default="cuda",
        description="The torch device the pipeline runs on (cpu for the CPU test of the pipeline).",
        json_schema_extra=about("developer"),
    )
    cpu_offload: Literal["none", "model", "sequential"] = Field(
        default="none",
        description=(
            "What stays in CPU memory: model keeps one component at a time on the GPU, "
            "sequential one layer; less VRAM, slower."
        ),
        json_schema_extra=about("operator"),
    )
    lora_id: str | None = Field(
        default="lightx2v/Qwen-Image-Edit-2511-Lightning",
        description=(
            "A distilled LoRA (Lightning by default), fused at load: a Hugging Face repository "
            "or folder; it replaces steps and CFG with the lora_ ones. Empty: the full 40-step "
            "model with true CFG."
        ),
        json_schema_extra=about("operator"),
    )
    lora_weight_name: str | None = Field(
        default="Qwen-Image-Edit-2511-Lightning-8steps-V1.0-bf16.safetensors",
        description=(
            "The weights file inside the LoRA's repository (unset: the whole repository); "
            "the 4-step file goes with lora_steps=4."
        ),
        json_schema_extra=about("operator"),
    )
    lora_revision: str | None = Field(
        default=None,
        description="The LoRA repository's commit (unset: the default branch).",
        json_schema_extra=about("operator"),
    )
    lora_steps: int = Field(
        default=8,
        ge=1,
        description="Sampling steps with the LoRA (8, or 4 with the 4-step file).",
        json_schema_extra=about("operator"),
    )
    lora_true_cfg_scale: float = Field(
        default=1.0,
        ge=1.0,
        description="True CFG scale with the LoRA.",
        json_schema_extra=about("operator"),
    )
    lora_shift: float | None = Field(
        default=3.0,
        gt=0,
        description=(
            "The noise-schedule shift the LoRA was distilled with (unset: keep the model's "
            "scheduler)."
        ),
        json_schema_extra=about("operator"),
    )


class QualitySettings(BaseModel):
    """The quality gate's switches and thresholds (HEIRLOOM_QUALITY__<NAME>).

    docs/quality.md tells how each threshold was calibrated, with the figures.
    """

    enabled: bool = Field(
        default=True,
        description=(
            "Check every model output (sanity, structure, identity) before post-processing; "
            "off, every output is kept as it is and its quality reads `not_checked`."
        ),
        json_schema_extra=about("operator"),
    )
    blank_max_std: float = Field(
        default=4.0,
        ge=0,
        description=(
            "An output whose luminance varies less than this (standard deviation, 0-255 levels, "
            "on the check's small grid) is blank."
        ),
        json_schema_extra=about("operator"),
    )
    aspect_tolerance: float = Field(
        default=0.02,
        ge=0,
        description="Largest relative difference of the output's aspect ratio from the input's.",
        json_schema_extra=about("operator"),
    )
    structure_min_score: float = Field(
        default=0.25,
        ge=-1,
        le=1,
        description=(
            "Lowest SSIM between the input's and the output's normalised luminance (128 px grid) "
            "for the same picture."
        ),
        json_schema_extra=about("operator"),
    )
    max_shift: float = Field(
        default=0.03,
        ge=0,
        le=0.5,
        description="Largest move of the picture (phase correlation), as a share of the frame.",
        json_schema_extra=about("operator"),
    )
    identity_max_distance: float = Field(
        default=0.6,
        gt=0,
        description=(
            "Largest face-embedding distance between a face in the input and in the output for "
            "the same person (dlib's 128-d embedding)."
        ),
        json_schema_extra=about("operator"),
    )
    face_structure_min_score: float = Field(
        default=0.5,
        ge=-1,
        le=1,
        description=(
            "Lowest SSIM between the input's and the output's normalised luminance over each "
            "compared face's region (24 px grid): a face pasted from another photo changes it "
            "even when its embedding is close."
        ),
        json_schema_extra=about("operator"),
    )
    detect_long_side: int = Field(
        default=640,
        ge=80,
        description=(
            "Faces are looked for on a copy of the input this long, in pixels: faces smaller "
            "than about 80 px on it are not checked; larger costs more CPU."
        ),
        json_schema_extra=about("operator"),
    )
    max_faces: int = Field(
        default=4,
        ge=1,
        description="The largest faces compared per output; each costs two embeddings of CPU time.",
        json_schema_extra=about("operator"),
    )
    keep_input_luminance: bool = Field(
        default=True,
        description=(
            "For colourize-only jobs, the result is the input's luminance with the model's "
            "colour (YCbCr), so faces and detail cannot drift; the identity check is then skipped."
        ),
        json_schema_extra=about("operator"),
    )


class Settings(BaseSettings):
    """Heirloom's configuration; the defaults run the whole stack locally under HEIRLOOM_HOME."""

    # pydantic-settings only looks up the names of fields, so `extra` cannot catch a mistyped
    # variable: `environment_errors` does, when a process starts.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=NESTED_DELIMITER, extra="ignore"
    )

    home: Path = Field(
        default=Path(".heirloom"),
        description=(
            "The folder of local state: the SQLite database, stored files, logs and the dev "
            "stack's API keys."
        ),
        json_schema_extra=about("operator", "Home and database"),
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the database, e.g. "
            "postgresql+psycopg://user:pass@host:5432/heirloom (unset: SQLite in "
            "HEIRLOOM_HOME/heirloom.db)."
        ),
        json_schema_extra=about("operator", "Home and database"),
    )

    temporal_address: str = Field(
        default="127.0.0.1:7233",
        description="host:port of the Temporal frontend (gRPC).",
        json_schema_extra=about("operator", "Temporal"),
    )
    temporal_namespace: str = Field(
        default="default",
        description="The Temporal namespace of every workflow and schedule.",
        json_schema_extra=about("operator", "Temporal"),
    )
    temporal_ui_url: str | None = Field(
        default=None,
        description=(
            "Where operators open the Temporal Web UI; admin views link each job's workflow "
            "there (unset: http://127.0.0.1:HEIRLOOM_TEMPORAL_UI_PORT)."
        ),
        json_schema_extra=about("operator", "Temporal"),
    )
    temporal_ui_port: int = Field(
        default=8233,
        description="The Web UI port of the Temporal dev server that `heirloom dev` starts.",
        json_schema_extra=about("developer", "Temporal"),
    )

    storage_backend: Literal["local", "s3"] = Field(
        default="local",
        description="Where images are stored: local disk or an S3 bucket.",
        json_schema_extra=about("operator", "Storage"),
    )
    storage_dir: Path | None = Field(
        default=None,
        description="The local backend's folder (unset: HEIRLOOM_HOME/storage).",
        json_schema_extra=about("operator", "Storage"),
    )
    s3_bucket: str = Field(
        default="heirloom",
        description="The S3 backend's bucket.",
        json_schema_extra=about("operator", "Storage"),
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description=(
            "The S3 API's URL for an S3-compatible server (unset: AWS S3). Presigned URLs "
            "use it, so RunPod and browsers must reach it."
        ),
        json_schema_extra=about("operator", "Storage"),
    )
    s3_region: str = Field(
        default="us-east-1",
        description="The S3 backend's region.",
        json_schema_extra=about("operator", "Storage"),
    )

    runpod_api_key: str = Field(
        default="local-dev-key",
        description="RunPod API key (the default is the local endpoint's).",
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_endpoint_id: str = Field(
        default="heirloom-local",
        description="The RunPod Serverless endpoint that runs the GPU handler.",
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_base_url: str = Field(
        default="http://127.0.0.1:8300/v2",
        description="RunPod's API (https://api.runpod.ai/v2), or the local endpoint's.",
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_endpoints: list[EndpointSettings] = Field(
        default_factory=list,
        description=(
            "The GPU pool as several RunPod endpoints, a JSON list of objects: id, base_url, "
            "gpu_slots, run_per_10s, status_per_10s, cancel_per_10s, price_per_s_usd, tiers, "
            "prefetch (README, GPU pool). A model step goes to the cheapest healthy endpoint "
            "its tier may use with a free slot. Empty: one endpoint, "
            "HEIRLOOM_RUNPOD_ENDPOINT_ID with HEIRLOOM_WORKER_GPU_SLOTS slots."
        ),
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_endpoint_failures: int = Field(
        default=3,
        ge=1,
        description=(
            "Consecutive failures (unreachable, 5xx, a FAILED or TIMED_OUT run) after which an "
            "endpoint is marked unhealthy and gets no new jobs."
        ),
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_endpoint_cooldown_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "How long an unhealthy endpoint gets no jobs before a /health probe; if it answers, "
            "one job tries it (success: healthy again; failure: the cooldown doubles, up to "
            "10 minutes)."
        ),
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_poll_by_expected_end: bool = Field(
        default=True,
        description=(
            "Poll each RunPod job when it is expected to end (from its place at the endpoint, "
            "the endpoint's recent model times and the handler's reported steps) instead of at "
            "a fast fixed cadence; false is the design before it, kept as bench/fairness.py's "
            "baseline."
        ),
        json_schema_extra=about("developer", "RunPod"),
    )
    runpod_poll_interval_s: float = Field(
        default=0.5,
        gt=0,
        description=(
            "The longest interval between two status polls of one RunPod job, in seconds "
            "(polls start at 20 ms and grow)."
        ),
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_execution_timeout_s: int = Field(
        default=600,
        gt=0,
        description="RunPod's executionTimeout for each job: its longest run, in seconds.",
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_ttl_s: int = Field(
        default=3600,
        gt=0,
        description="RunPod's ttl for each job: how long it lives, queue included, in seconds.",
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_request_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Timeout of one HTTP request to RunPod, in seconds.",
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_status_error_limit: int = Field(
        default=10,
        ge=0,
        description="Consecutive failed status polls before a model attempt fails.",
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_requests_per_s: float = Field(
        default=50.0,
        gt=0,
        description=(
            "Most RunPod requests (polls, submissions, cancels) one worker process sends a "
            "second. RunPod allows 2,000 /status and 1,000 /run per 10 s per endpoint: keep "
            "the sum over worker processes under 100."
        ),
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_cancels_per_s: float = Field(
        default=1.0,
        gt=0,
        description=(
            "Most RunPod /cancel requests one process sends a second, its model steps' and "
            "settlement's together, within runpod_requests_per_s. RunPod allows 100 /cancel "
            "per 10 s per endpoint: keep the sum over processes under 10."
        ),
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_rate_limit_pause_s: float = Field(
        default=1.0,
        gt=0,
        description=(
            "After a 429, every request of the worker waits RunPod's Retry-After, or this many "
            "seconds when it sends none."
        ),
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_rate_limit_longest_pause_s: float = Field(
        default=60.0,
        gt=0,
        description="The longest pause after a 429, whatever Retry-After says, in seconds.",
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_transfer: Literal["auto", "inline", "presigned"] = Field(
        default="auto",
        description=(
            "How the handler gets its input and returns its output: inline base64 in RunPod's "
            "bodies, or S3 objects through presigned URLs. auto inlines inputs up to "
            "HEIRLOOM_RUNPOD_INLINE_MAX_BYTES and returns outputs through S3 with the S3 backend."
        ),
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_inline_max_bytes: int = Field(
        default=6 * 1024 * 1024,
        gt=0,
        le=7 * 1024 * 1024,
        description=(
            "Largest input sent inline, in bytes (base64 adds a third; RunPod takes 10 MB per "
            "/run body)."
        ),
        json_schema_extra=about("operator", "RunPod"),
    )
    runpod_transfer_url_margin_s: int = Field(
        default=300,
        ge=0,
        description=(
            "Added to runpod_ttl_s and runpod_execution_timeout_s for the lifetime of the "
            "presigned URLs made for the handler, in seconds, so a job that waited its whole "
            "TTL in the queue can still read its input and upload its result (capped at S3's "
            "7 days)."
        ),
        json_schema_extra=about("operator", "RunPod"),
    )

    engine: Literal["cpu", "qwen"] = Field(
        default="cpu",
        description=(
            "The engine the RunPod handler runs: qwen, the GPU model (Dockerfile.runpod sets "
            "it), or cpu, a Pillow stand-in for local runs."
        ),
        json_schema_extra=about("operator", "GPU engine"),
    )
    qwen: QwenSettings = Field(
        default_factory=QwenSettings,
        description="The qwen engine's model, sampling and memory choices.",
        json_schema_extra=about("operator", "GPU engine"),
    )

    api_host: str = Field(
        default="127.0.0.1",
        description="The address `heirloom api` listens on.",
        json_schema_extra=about("operator", "API"),
    )
    api_port: int = Field(
        default=8000,
        description="The port `heirloom api` listens on.",
        json_schema_extra=about("operator", "API"),
    )
    api_url: str | None = Field(
        default=None,
        description=(
            "The API `heirloom submit` and `watch` talk to (unset: http://HEIRLOOM_API_HOST:"
            "HEIRLOOM_API_PORT)."
        ),
        json_schema_extra=about("developer", "API"),
    )
    api_key: str | None = Field(
        default=None,
        description=(
            "The API key `heirloom submit` and `watch` send (unset: the dev user's key in "
            "HEIRLOOM_HOME)."
        ),
        json_schema_extra=about("developer", "API"),
    )
    max_upload_bytes: int = Field(
        default=25 * 1024 * 1024,
        gt=0,
        description="Largest photo POST /v1/jobs accepts, in bytes (413 above).",
        json_schema_extra=about("operator", "API"),
    )
    album_max_photos: int = Field(
        default=200,
        ge=1,
        le=1000,
        description="Photos one POST /v1/albums may carry (400 above).",
        json_schema_extra=about("operator", "API"),
    )
    album_max_bytes: int = Field(
        default=512 * 1024 * 1024,
        gt=0,
        description=(
            "Largest POST /v1/albums body, all photos together, in bytes (413 above); each "
            "photo also keeps to max_upload_bytes."
        ),
        json_schema_extra=about("operator", "API"),
    )
    album_parallel_jobs: int = Field(
        default=8,
        ge=1,
        le=100,
        description=(
            "Photos of one album restored at once (child workflows in flight); the GPU queue "
            "orders their model steps fairly with other users' jobs in any case."
        ),
        json_schema_extra=about("operator", "API"),
    )
    album_zip_valid_s: int = Field(
        default=86_400,
        ge=1,
        description="How long an album's ZIP of results is kept, in seconds.",
        json_schema_extra=about("operator", "API"),
    )
    max_image_pixels: int = Field(
        default=40_000_000,
        gt=0,
        description="Largest photo accepted, in pixels (width x height).",
        json_schema_extra=about("operator", "API"),
    )
    image_decodes_at_once: int = Field(
        default=2,
        ge=1,
        description=(
            "Photos one process decodes at a time (each up to `max_image_pixels` x 4 bytes); "
            "more wait their turn, so memory stays bounded whatever arrives at once."
        ),
        json_schema_extra=about("operator", "API"),
    )
    stream_poll_interval_s: float = Field(
        default=0.25,
        gt=0,
        description=(
            "Live status streams: each API process reads the change feed at most this often, "
            "in seconds (PostgreSQL wakes it earlier on a change)."
        ),
        json_schema_extra=about("operator", "API"),
    )
    stream_min_gap_s: float = Field(
        default=0.05,
        ge=0,
        description="Shortest time between two reads of the change feed, in seconds.",
        json_schema_extra=about("operator", "API"),
    )
    stream_keepalive_s: float = Field(
        default=15.0,
        gt=0,
        description="Interval of the keep-alive comments on a quiet SSE stream, in seconds.",
        json_schema_extra=about("operator", "API"),
    )
    stream_token_ttl_s: int = Field(
        default=60,
        gt=0,
        le=3600,
        description="Lifetime of a stream token (POST /v1/stream-tokens), in seconds.",
        json_schema_extra=about("operator", "API"),
    )
    stream_recheck_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "An open SSE or WebSocket stream re-checks its key (or stream token's key) this "
            "often, in seconds, and closes once the key is revoked."
        ),
        json_schema_extra=about("operator", "API"),
    )
    stream_max_per_user: int = Field(
        default=10,
        ge=1,
        description="Most streams one user may hold open on one API process (429 past it).",
        json_schema_extra=about("operator", "API"),
    )
    stream_max_per_process: int = Field(
        default=1000,
        ge=1,
        description="Most streams one API process holds open at once (429 past it).",
        json_schema_extra=about("operator", "API"),
    )
    submit_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description=(
            "POST /v1/jobs answers within this many seconds, 503 when no worker took the job."
        ),
        json_schema_extra=about("operator", "API"),
    )
    share_default_ttl_s: int = Field(
        default=7 * 86400,
        gt=0,
        description="Lifetime of a share link when none is asked, in seconds.",
        json_schema_extra=about("operator", "API"),
    )
    share_max_ttl_s: int = Field(
        default=365 * 86400,
        gt=0,
        description="Longest lifetime a share link may ask, in seconds.",
        json_schema_extra=about("operator", "API"),
    )
    download_url_ttl_s: int = Field(
        default=300,
        gt=0,
        le=7 * 86400,
        description="How long a presigned S3 download URL stays valid, in seconds.",
        json_schema_extra=about("operator", "API"),
    )
    cors_allow_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser (a JSON list).",
        json_schema_extra=about("operator", "API"),
    )
    max_api_keys_per_user: int = Field(
        default=20,
        ge=1,
        description="Most API keys one user may hold (409 past it).",
        json_schema_extra=about("operator", "API"),
    )
    api_key_touch_interval_s: int = Field(
        default=300,
        gt=0,
        description="How stale an API key's last-used time may get, in seconds.",
        json_schema_extra=about("operator", "API"),
    )

    export_daily_limit: int = Field(
        default=3,
        ge=1,
        description=(
            "Exports one user may start in 24 hours (POST /v1/me/exports answers 429 past it); "
            "one at a time in any case (409)."
        ),
        json_schema_extra=about("operator", "API"),
    )

    metrics_token: str | None = Field(
        default=None,
        description=(
            "Bearer token GET /metrics needs (`Authorization: Bearer <token>`); unset: /metrics "
            "answers 404."
        ),
        json_schema_extra=about("operator", "API"),
    )
    metrics_cache_s: float = Field(
        default=5.0,
        ge=0,
        description="How long a /metrics scrape is reused, in seconds (0: read fresh each time).",
        json_schema_extra=about("operator", "API"),
    )
    readiness_cache_s: float = Field(
        default=5.0,
        ge=0,
        description=(
            "How long the readiness checks (/readyz, /v1/admin/health) are reused, in seconds "
            "(0: checked on every request; concurrent requests still share one check)."
        ),
        json_schema_extra=about("operator", "API"),
    )
    hsts_max_age_s: int = Field(
        default=31_536_000,
        ge=0,
        description=(
            "max-age of the Strict-Transport-Security header on HTTPS answers (also behind a "
            "trusted proxy sending X-Forwarded-Proto: https), in seconds; 0: no header."
        ),
        json_schema_extra=about("operator", "API"),
    )

    webhook_allow_private_targets: bool = Field(
        default=False,
        description=(
            "Allow webhooks to private, loopback and link-local addresses (`heirloom dev` "
            "turns it on for local receivers)."
        ),
        json_schema_extra=about("developer", "Webhooks"),
    )
    webhook_secret_grace_s: int = Field(
        default=86_400,
        ge=0,
        description="How long a rotated webhook secret keeps signing beside the new, in seconds.",
        json_schema_extra=about("operator", "Webhooks"),
    )
    webhook_request_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description=(
            "Deadline of one webhook delivery attempt (connect, send, and reading at most "
            "4 KiB of the answer), in seconds."
        ),
        json_schema_extra=about("operator", "Webhooks"),
    )
    webhook_retry_first_s: float = Field(
        default=10.0,
        gt=0,
        description="First interval of the exponential retry backoff, in seconds.",
        json_schema_extra=about("operator", "Webhooks"),
    )
    webhook_retry_longest_s: float = Field(
        default=3600.0,
        gt=0,
        description="Longest interval of the retry backoff, in seconds.",
        json_schema_extra=about("operator", "Webhooks"),
    )
    webhook_retry_window_s: int = Field(
        default=26 * 3600,
        ge=24 * 3600,
        description="How long a delivery is retried before it is given up, in seconds.",
        json_schema_extra=about("operator", "Webhooks"),
    )
    webhook_dispatch_interval_s: int = Field(
        default=300,
        gt=0,
        le=3600,
        description=(
            "Interval of the safety-net sweep (a Schedule) that starts deliveries still owed, in "
            "seconds; each delivery starts as its event commits, this only catches what a "
            "process left owed when it died."
        ),
        json_schema_extra=about("operator", "Webhooks"),
    )

    quality: QualitySettings = Field(
        default_factory=QualitySettings,
        description="The quality gate's switches and thresholds.",
        json_schema_extra=about("operator", "Quality gate"),
    )

    worker_tiers: list[Tier] = Field(
        default_factory=lambda: list(Tier),
        description="The tiers whose queues `heirloom worker` polls (a JSON list; --tiers wins).",
        json_schema_extra=about("operator", "Worker"),
    )
    worker_activity_threads: int = Field(
        default=32,
        ge=1,
        description=(
            "Threads of a worker's activity pool: at least the largest tier's slots (Temporal "
            "warns otherwise); most sit idle."
        ),
        json_schema_extra=about("operator", "Worker"),
    )
    worker_quality_processes: int = Field(
        default=1,
        ge=1,
        description=(
            "Processes a worker runs the quality gate in (docs/quality.md): dlib holds the GIL, "
            "so the gate never runs in the process that polls Temporal; each takes about 100 MB "
            "and one core while it checks."
        ),
        json_schema_extra=about("operator", "Worker"),
    )
    worker_db_pool_size: int = Field(
        default=16,
        ge=1,
        description="Database connections one worker process holds.",
        json_schema_extra=about("operator", "Worker"),
    )
    worker_max_concurrent_activities: dict[Tier, int] = Field(
        default_factory=lambda: {Tier.FREE: 8, Tier.PAID: 32, Tier.FOREVER: 32},
        description=(
            "Steps one worker runs at once per tier (a JSON object naming every tier it "
            "serves). A model step holds no thread while the GPU works, so a slot is mostly "
            "a RunPod job in flight."
        ),
        json_schema_extra=about("operator", "Worker"),
    )
    worker_graceful_shutdown_s: float = Field(
        default=20.0,
        ge=0,
        description=(
            "On SIGTERM a worker stops polling and gives running steps this long to finish, in "
            "seconds; a model call still running is left to its RunPod job, which the next "
            "worker resumes. Make container stop grace periods a few seconds longer."
        ),
        json_schema_extra=about("operator", "Worker"),
    )
    activity_start_to_close_s: int = Field(
        default=120,
        gt=0,
        description="Start-to-close timeout of each step but the model call, in seconds.",
        json_schema_extra=about("operator", "Worker"),
    )
    model_start_to_close_s: int = Field(
        default=900,
        gt=0,
        description="Start-to-close timeout of one model call attempt, in seconds.",
        json_schema_extra=about("operator", "Worker"),
    )
    model_heartbeat_timeout_s: int = Field(
        default=30,
        gt=0,
        description=(
            "Heartbeat timeout of the model call, in seconds: a worker killed during one is "
            "noticed this soon."
        ),
        json_schema_extra=about("operator", "Worker"),
    )
    worker_export_slots: int = Field(
        default=1,
        ge=1,
        le=16,
        description=(
            "Exports this worker process builds at once, from the export queue "
            "(`heirloom-export`): apart from the operations queue, so refunds, erasures and "
            "webhooks never wait behind an export."
        ),
        json_schema_extra=about("operator", "Worker"),
    )
    erasure_heartbeat_timeout_s: int = Field(
        default=30,
        gt=0,
        description=(
            "Heartbeat timeout of an account erasure's long steps, in seconds: a worker killed "
            "inside one is replaced this soon instead of after the 10-minute step timeout."
        ),
        json_schema_extra=about("operator", "Worker"),
    )

    worker_gpu_slots: int = Field(
        default=2,
        ge=0,
        description=(
            "Model steps this worker process runs at once from the GPU queue (0: none; "
            "--gpu-slots wins). Summed over all worker processes it must equal "
            "HEIRLOOM_GPU_POOL_SIZE: that bound is the admission control."
        ),
        json_schema_extra=about("operator", "GPU queue"),
    )
    gpu_prefetch_per_endpoint: int = Field(
        default=1,
        ge=0,
        le=8,
        description=(
            "Model steps a worker process admits per endpoint beyond its GPU slots: the next "
            "job waits at RunPod, so a GPU starts it the moment a run ends (0: admission is "
            "exactly the slots, the design before it)."
        ),
        json_schema_extra=about("operator", "GPU queue"),
    )
    gpu_prefetch_by_expected_end: bool = Field(
        default=True,
        description=(
            "Admit each prefetched model step only shortly before the run whose GPU it will "
            "take should end (HEIRLOOM_GPU_PREFETCH_LEAD_S plus the worker's own dispatch "
            "time ahead), so the job that waits at RunPod is the highest-priority one waiting "
            "then; false admits it as soon as a slot is free, the design before it (a paid job "
            "arriving behind an early prefetched free job waits up to two model times)."
        ),
        json_schema_extra=about("developer", "GPU queue"),
    )
    gpu_prefetch_lead_s: float = Field(
        default=0.1,
        ge=0,
        description=(
            "Seconds before a run's expected end, besides the worker's measured time from a "
            "step's start to its /run, its event loop's lag and twice the runs' spread, that "
            "the model step prefetched for its GPU is admitted: slack for a run that ends "
            "early."
        ),
        json_schema_extra=about("operator", "GPU queue"),
    )
    gpu_queue_enabled: bool = Field(
        default=True,
        description=(
            "false dispatches new jobs' model steps on their tier's queue instead, the design "
            "before the GPU queue, kept as bench/fairness.py's baseline. Not for production."
        ),
        json_schema_extra=about("developer", "GPU queue"),
    )
    gpu_pool_size: int = Field(
        default=2,
        ge=1,
        description="The GPU pool, the RunPod endpoint's max workers: wait estimates use it.",
        json_schema_extra=about("operator", "GPU queue"),
    )
    gpu_default_model_s: float = Field(
        default=30.0,
        gt=0,
        description="Model seconds per job that wait estimates assume before any job completed.",
        json_schema_extra=about("operator", "GPU queue"),
    )

    schedules_enabled: bool = Field(
        default=True,
        description=(
            "Workers create and update the Temporal Schedules of periodic work "
            "(worker/schedules.py); off for tests and benchmarks that run none."
        ),
        json_schema_extra=about("tests", "Schedules"),
    )
    reconcile_interval_s: int = Field(
        default=60,
        gt=0,
        le=3600,
        description=(
            "Interval of the reconciliation passes, which settle charged jobs left without a live "
            "run, in seconds; each run of the `heirloom-reconcile` Schedule (an hour long at most) "
            "makes them."
        ),
        json_schema_extra=about("operator", "Schedules"),
    )
    reconcile_grace_s: int = Field(
        default=30,
        ge=0,
        description="The reconciler looks only at unfinished jobs unchanged this long, in seconds.",
        json_schema_extra=about("operator", "Schedules"),
    )
    reconcile_batch: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="Jobs the reconciler reads per page.",
        json_schema_extra=about("operator", "Schedules"),
    )
    retention_cleanup_interval_s: int = Field(
        default=3600,
        gt=0,
        le=86400,
        description="Interval of the Schedule that deletes expired jobs' files, in seconds.",
        json_schema_extra=about("operator", "Schedules"),
    )
    retention_batch: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="Expired jobs the cleanup handles at a time.",
        json_schema_extra=about("operator", "Schedules"),
    )
    events_retention_days: int = Field(
        default=7,
        ge=2,
        description=(
            "Job events older than this many days are pruned hourly; a stream can resume within "
            "it. At least the webhook retry window, whose deliveries read their event."
        ),
        json_schema_extra=about("operator", "Schedules"),
    )

    prices: Prices = Field(
        default_factory=Prices,
        description="Credits per job by operations.",
        json_schema_extra=about("operator", "Prices and tiers"),
    )
    tier_rules: dict[Tier, TierRules] = Field(
        default_factory=lambda: dict(DEFAULT_TIER_RULES),
        description=(
            "What each tier gets, as a JSON object by tier: the fields given for a tier override "
            "its defaults (the tier rules table)."
        ),
        json_schema_extra=about("operator", "Prices and tiers"),
    )

    gpu_price_per_s_usd: float = Field(
        default=0.00116,
        ge=0,
        description=(
            "What RunPod bills per GPU second, in USD (flex H100 PRO 80 GB: 0.00116, "
            "docs.runpod.io/serverless/pricing)."
        ),
        json_schema_extra=about("operator", "Costs and budgets"),
    )
    credit_price_usd: float = Field(
        default=0.10,
        ge=0,
        description=(
            "What a credit is worth, in USD: the cost report's value of the credits jobs kept "
            "(its revenue is the money received, from payments)."
        ),
        json_schema_extra=about("operator", "Costs and budgets"),
    )
    budget_daily_usd: float | None = Field(
        default=None,
        gt=0,
        description="Budget of GPU time per UTC day, in USD (unset: none).",
        json_schema_extra=about("operator", "Costs and budgets"),
    )
    budget_monthly_usd: float | None = Field(
        default=None,
        gt=0,
        description="Budget of GPU time per UTC month, in USD (unset: none).",
        json_schema_extra=about("operator", "Costs and budgets"),
    )
    budget_alert_thresholds_pct: list[int] = Field(
        default_factory=lambda: [50, 80, 100],
        description="Percentages of a budget that raise an alert (a JSON list).",
        json_schema_extra=about("operator", "Costs and budgets"),
    )
    budget_free_pause_pct: int = Field(
        default=80,
        gt=0,
        le=100,
        description="Percent of a budget at which new free jobs pause; every tier pauses at 100.",
        json_schema_extra=about("operator", "Costs and budgets"),
    )

    stripe_api_key: str = Field(
        default="sk_test_heirloom_local",
        description="Stripe secret key (test or live); the default is the local stand-in's.",
        json_schema_extra=about("operator", "Payments and sign-up"),
    )
    stripe_api_base: str | None = Field(
        default=None,
        description=(
            "Where the stripe library sends its calls (unset: Stripe itself); `heirloom dev` "
            "points it at the local stand-in."
        ),
        json_schema_extra=about("operator", "Payments and sign-up"),
    )
    stripe_webhook_secret: str = Field(
        default="whsec_heirloom_local",
        description="The signing secret of the Stripe webhook endpoint (whsec_...).",
        json_schema_extra=about("operator", "Payments and sign-up"),
    )
    stripe_webhook_tolerance_s: int = Field(
        default=300,
        gt=0,
        description="Oldest webhook signature timestamp accepted, in seconds (Stripe's default).",
        json_schema_extra=about("operator", "Payments and sign-up"),
    )
    signup_credits: int = Field(
        default=6,
        ge=0,
        description="Credits a confirmed sign-up starts with (a ledger grant).",
        json_schema_extra=about("operator", "Payments and sign-up"),
    )
    signup_link_ttl_s: int = Field(
        default=86400,
        gt=0,
        description="How long a sign-up's confirmation link works, in seconds.",
        json_schema_extra=about("operator", "Payments and sign-up"),
    )
    smtp_host: str = Field(
        default="127.0.0.1",
        description="SMTP server that sends sign-up emails (the default: the dev stack's catcher).",
        json_schema_extra=about("operator", "Payments and sign-up"),
    )
    smtp_port: int = Field(
        default=8025,
        description="Its port.",
        json_schema_extra=about("operator", "Payments and sign-up"),
    )
    smtp_from: str = Field(
        default="Heirloom <no-reply@heirloom.local>",
        description="The From of sign-up emails.",
        json_schema_extra=about("operator", "Payments and sign-up"),
    )
    smtp_username: str | None = Field(
        default=None,
        description="SMTP login (unset: none).",
        json_schema_extra=about("operator", "Payments and sign-up"),
    )
    smtp_password: str | None = Field(
        default=None,
        description="SMTP password.",
        json_schema_extra=about("operator", "Payments and sign-up"),
    )
    smtp_starttls: bool = Field(
        default=False,
        description="Upgrade the SMTP connection with STARTTLS before logging in.",
        json_schema_extra=about("operator", "Payments and sign-up"),
    )
    alerts_interval_s: int = Field(
        default=60,
        gt=0,
        le=3600,
        description=(
            "Interval of the alert evaluations, in seconds; each run of the `heirloom-alerts` "
            "Schedule (an hour long at most) makes them."
        ),
        json_schema_extra=about("operator", "Alerts"),
    )
    alerts_webhook_url: str | None = Field(
        default=None,
        description="Where alerts are POSTed besides the log (unset: the log only).",
        json_schema_extra=about("operator", "Alerts"),
    )
    alert_window_s: int = Field(
        default=900,
        gt=0,
        description="The window the failure rate and queue wait are measured over, in seconds.",
        json_schema_extra=about("operator", "Alerts"),
    )
    alert_failure_rate: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Share of failed jobs (0..1) in the window that raises an alert.",
        json_schema_extra=about("operator", "Alerts"),
    )
    alert_failure_min_jobs: int = Field(
        default=5,
        ge=1,
        description="Ended jobs in the window before the failure rate counts.",
        json_schema_extra=about("operator", "Alerts"),
    )
    alert_queue_wait_p95_s: float = Field(
        default=300.0,
        gt=0,
        description="95th percentile queue wait in the window that raises an alert, in seconds.",
        json_schema_extra=about("operator", "Alerts"),
    )

    log_format: Literal["human", "json"] = Field(
        default="human",
        description="human lines, or one JSON object per line.",
        json_schema_extra=about("operator", "Observability"),
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of a worker's Prometheus metrics (unset: not served).",
        json_schema_extra=about("operator", "Observability"),
    )
    worker_temporal_metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of a worker's Temporal SDK Prometheus metrics (unset: not served).",
        json_schema_extra=about("operator", "Observability"),
    )
    queue_metrics_interval_s: int = Field(
        default=60,
        gt=0,
        le=3600,
        description=(
            "Interval of the queue-metrics snapshots per tier and GPU priority, in seconds; each "
            "run of the `heirloom-queue-metrics` Schedule (an hour long at most) takes them."
        ),
        json_schema_extra=about("operator", "Observability"),
    )
    queue_metrics_retention_days: int = Field(
        default=30,
        ge=1,
        description="Days queue-metrics snapshots are kept.",
        json_schema_extra=about("operator", "Observability"),
    )

    redis_url: str | None = Field(
        default=None,
        description=(
            "Redis shared by every API process for rate-limit and abuse counters (unset: "
            "counters in each process's memory)."
        ),
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )
    rate_limits_enabled: bool = Field(
        default=True,
        description="false turns every rate limit off (benchmarks).",
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )
    rate_limit_namespace: str = Field(
        default="heirloom",
        description="Prefix of every budget and counter in the storage.",
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )
    rate_limit_address: str = Field(
        default="3000/minute",
        description=(
            "Requests per client address (an IPv6 /64 counts as one), in the `limits` notation "
            "(per-user budgets are per tier: the tier rules' rate_limit)."
        ),
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )
    rate_limit_uploads: str = Field(
        default="60/minute",
        description="POST /v1/jobs per user (all their keys together), `limits` notation.",
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )
    rate_limit_auth_failures: str = Field(
        default="30/minute",
        description=(
            "Refused API keys per client address, in the `limits` notation; past it the "
            "address's refused keys get 429, its valid keys are still served."
        ),
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )
    rate_limit_signup_email: str = Field(
        default="3/hour",
        description="Sign-ups per email address, `limits` notation.",
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )
    rate_limit_signup_network: str = Field(
        default="10/hour",
        description="Sign-ups per client network (an IPv4 address or an IPv6 /64).",
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )
    rate_limit_share: str = Field(
        default="120/minute",
        description="Requests to the public share routes per client address, `limits` notation.",
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )
    abuse_not_found_probe: str = Field(
        default="50/10 minutes",
        description="404s on job ids per key that flag it as probing (N per window).",
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )
    abuse_auth_failures: str = Field(
        default="100/10 minutes",
        description="Refused keys per client address that flag it as guessing (N per window).",
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )
    abuse_key_addresses: str = Field(
        default="10/hour",
        description="Distinct addresses using one key that flag it as leaked (N per window).",
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )
    abuse_download_factor: float = Field(
        default=10.0,
        gt=1,
        description=(
            "A key downloading more than this times its hourly average over the last 24 h in "
            "an hour is flagged."
        ),
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )
    abuse_download_floor_bytes: int = Field(
        default=500 * 1024 * 1024,
        gt=0,
        description="Downloads in an hour below this many bytes are never flagged.",
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )
    abuse_auto_suspend: bool = Field(
        default=False,
        description="Revoke a flagged key at once (default: record and log only).",
        json_schema_extra=about("operator", "Abuse and rate limits"),
    )

    backup_age_recipients: list[str] = Field(
        default_factory=list,
        description=(
            "age public keys (age1...) `heirloom backup seal` encrypts each backup for, as a "
            "JSON list; keep the matching secret keys off the host."
        ),
        json_schema_extra=about("operator", "Backups"),
    )
    backup_s3_bucket: str | None = Field(
        default=None,
        description=(
            "The bucket sealed backups are copied to, off the host (unset: `heirloom backup "
            "seal` keeps them local only)."
        ),
        json_schema_extra=about("operator", "Backups"),
    )
    backup_s3_prefix: str = Field(
        default="heirloom-backups",
        description="Key prefix of the backups in HEIRLOOM_BACKUP_S3_BUCKET.",
        json_schema_extra=about("operator", "Backups"),
    )
    backup_s3_endpoint_url: str | None = Field(
        default=None,
        description=(
            "S3 endpoint of the backup bucket (unset: AWS); credentials from the standard AWS "
            "variables."
        ),
        json_schema_extra=about("operator", "Backups"),
    )
    backup_s3_access_key_id: str | None = Field(
        default=None,
        description=(
            "Access key of the backup bucket, apart from the app's storage credentials (unset: "
            "the standard AWS variables)."
        ),
        json_schema_extra=about("operator", "Backups"),
    )
    backup_s3_secret_access_key: str | None = Field(
        default=None,
        description="Secret key going with HEIRLOOM_BACKUP_S3_ACCESS_KEY_ID.",
        json_schema_extra=about("operator", "Backups"),
    )
    backup_keep_days: int = Field(
        default=30,
        ge=1,
        description=(
            "Backups older than this many days are pruned, here and in the bucket, after each "
            "seal; the newest is always kept."
        ),
        json_schema_extra=about("operator", "Backups"),
    )

    devstack_runpod_host: str = Field(
        default="127.0.0.1",
        description="The address the local RunPod endpoint listens on.",
        json_schema_extra=about("developer", "Local dev stack"),
    )
    devstack_runpod_port: int = Field(
        default=8300,
        description="The port the local RunPod endpoint listens on.",
        json_schema_extra=about("developer", "Local dev stack"),
    )
    devstack_stripe_port: int = Field(
        default=8310,
        description="The port the local Stripe stand-in listens on (loopback).",
        json_schema_extra=about("developer", "Local dev stack"),
    )
    devstack_smtp_port: int = Field(
        default=8025,
        description="The port the local SMTP catcher listens on (loopback).",
        json_schema_extra=about("developer", "Local dev stack"),
    )
    devstack_runpod_workers: int = Field(
        default=2,
        ge=1,
        description="Simulated GPU workers of the local RunPod endpoint.",
        json_schema_extra=about("developer", "Local dev stack"),
    )
    faults: FaultSettings = Field(
        default_factory=FaultSettings,
        description="Faults the local RunPod endpoint injects.",
        json_schema_extra=about("tests", "Local dev stack"),
    )

    @field_validator("tier_rules", mode="before")
    @classmethod
    def _merge_tier_rules(cls, value: Any) -> Any:
        """Fields given for a tier override its defaults; the rest (and other tiers) stay."""
        if not isinstance(value, dict):
            return value
        merged: dict[Any, Any] = {
            tier: rules.model_dump() for tier, rules in DEFAULT_TIER_RULES.items()
        }
        for tier, rules in value.items():
            key = Tier(tier)
            update = rules.model_dump() if isinstance(rules, TierRules) else rules
            merged[key] = {**merged[key], **update} if isinstance(update, dict) else update
        return merged

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'heirloom.db').resolve()}"

    @property
    def resolved_storage_dir(self) -> Path:
        return (self.storage_dir or self.home / "storage").resolve()

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def dev_api_key_file(self) -> Path:
        return self.home / "dev-api-key"

    @property
    def admin_api_key_file(self) -> Path:
        return self.home / "admin-api-key"

    @property
    def api_base_url(self) -> str:
        return self.api_url or f"http://{self.api_host}:{self.api_port}"

    def workflow_url(self, workflow_id: str) -> str:
        """The Temporal Web UI page of a workflow (the latest run of that id)."""
        base = (self.temporal_ui_url or f"http://127.0.0.1:{self.temporal_ui_port}").rstrip("/")
        return f"{base}/namespaces/{self.temporal_namespace}/workflows/{workflow_id}"

    @property
    def runpod_transfer_url_expiry_s(self) -> int:
        """Lifetime of the handler's presigned URLs: the queue TTL, the execution timeout and
        the margin, within S3's longest (7 days)."""
        lifetime = self.runpod_ttl_s + self.runpod_execution_timeout_s
        return min(lifetime + self.runpod_transfer_url_margin_s, 7 * 24 * 3600)

    @property
    def mail_dir(self) -> Path:
        """The dev stack's SMTP catcher keeps every message here, one .eml file each."""
        return self.home / "mail"

    @property
    def devstack_stripe_base_url(self) -> str:
        return f"http://127.0.0.1:{self.devstack_stripe_port}"

    @property
    def gpu_endpoints(self) -> list[EndpointSettings]:
        """The GPU pool's endpoints: HEIRLOOM_RUNPOD_ENDPOINTS, or the one endpoint of the
        single-endpoint settings (its budgets: runpod_cancels_per_s, RunPod's /run and /status
        limits), each with its base URL and price filled in."""
        configured = self.runpod_endpoints or [
            EndpointSettings(
                id=self.runpod_endpoint_id,
                gpu_slots=max(1, self.worker_gpu_slots),
                cancel_per_10s=self.runpod_cancels_per_s * 10,
            )
        ]
        return [
            endpoint.model_copy(
                update={
                    "base_url": endpoint.base_url or self.runpod_base_url,
                    "price_per_s_usd": (
                        self.gpu_price_per_s_usd
                        if endpoint.price_per_s_usd is None
                        else endpoint.price_per_s_usd
                    ),
                }
            )
            for endpoint in configured
        ]

    @property
    def gpu_admission(self) -> int:
        """Model steps this worker process runs at once: each endpoint's slots and prefetch."""
        if not self.worker_gpu_slots:
            return 0
        return sum(
            e.gpu_slots + e.prefetch_or(self.gpu_prefetch_per_endpoint) for e in self.gpu_endpoints
        )

    @property
    def devstack_runpod_base_url(self) -> str:
        return f"http://{self.devstack_runpod_host}:{self.devstack_runpod_port}/v2"


# HEIRLOOM_* names the project uses that are not settings; the start-up check lets them pass.
NOT_SETTINGS: Mapping[str, str] = {
    "HEIRLOOM_TEST_DATABASE_URL": (
        "The test suite's PostgreSQL (tests/conftest.py, .ci/run); the product never reads it."
    ),
    "HEIRLOOM_TEST_REQUIRE": (
        "The components a test run must have (tests/harness/required.py, .ci/run): their "
        "skips become failures; the product never reads it."
    ),
    "HEIRLOOM_TEST_WATCH_AFTER_WAKE_S": (
        "tests/integration/test_refused_submissions.py: seconds the balance is still polled "
        "after the woken worker's reservation was refused (the acceptance run: 120)."
    ),
    "HEIRLOOM_DB_PASSWORD": (
        "docker-compose.yml's password of the app's database role, read by the postgresql "
        "container's init script and put into HEIRLOOM_DATABASE_URL; the app never reads it."
    ),
    "HEIRLOOM_PHOTO": (
        "tests/clients/test_clients.py hands the TypeScript client's tests (node --test) the "
        "photo to submit; the product never reads it."
    ),
    "HEIRLOOM_WEBHOOK_DELIVERY": (
        "tests/clients/test_clients.py hands the TypeScript client's tests a webhook delivery "
        "the stack sent, to verify; the product never reads it."
    ),
    "HEIRLOOM_GPU_TEST_DEVICE": (
        "The torch device of the tiny-model tests (tests/gpu): cpu, or cuda under make "
        "gpu-check (bench/gpu_check.py); the product never reads it."
    ),
}


def variable_names() -> frozenset[str]:
    """Every environment variable Settings reads: one per field and, below a nested model or a
    dict keyed by an enum, one per key and field (HEIRLOOM_TIER_RULES__FREE__DAILY_JOB_LIMIT)."""
    return frozenset(
        name
        for field_name, field in Settings.model_fields.items()
        for name in _names(variable_name(field_name), field.annotation)
    )


def variable_name(*path: str) -> str:
    """The variable of a field, or of a key or field below it: HEIRLOOM_QWEN__STEPS."""
    return ENV_PREFIX + NESTED_DELIMITER.join(part.upper() for part in path)


def nested_values(annotation: Any) -> list[tuple[str, Any]]:
    """What a variable of this type has below it, with their types: a model's fields, or the
    members of an enum keying a dict; nothing for any other type."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(name, field.annotation) for name, field in annotation.model_fields.items()]
    if typing.get_origin(annotation) is dict:
        key, value = typing.get_args(annotation)
        if isinstance(key, type) and issubclass(key, Enum):
            return [(str(member.value), value) for member in key]
    return []


def _names(name: str, annotation: Any) -> Iterator[str]:
    yield name
    for part, inner in nested_values(annotation):
        yield from _names(name + NESTED_DELIMITER + part.upper(), inner)


def environment_errors(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per HEIRLOOM_* variable that is neither a setting nor in NOT_SETTINGS, naming the
    closest known name: pydantic-settings would ignore it without a word."""
    known = variable_names() | NOT_SETTINGS.keys()
    # Names match as pydantic-settings matches them: case-insensitively.
    unknown = sorted(
        name
        for name in (os.environ if environ is None else environ)
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known
    )
    # Compared without the prefix they all share, which would make every name look close.
    suffixes = {name.removeprefix(ENV_PREFIX): name for name in known}
    errors = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper().removeprefix(ENV_PREFIX), suffixes, n=1)
        hint = f"; did you mean {suffixes[close[0]]}?" if close else ""
        errors.append(
            f"{name} is not a Heirloom setting{hint} (docs/configuration.md lists them all)"
        )
    return errors
