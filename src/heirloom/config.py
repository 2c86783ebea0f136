"""The one Settings object: every value comes from `HEIRLOOM_*` variables or defaults."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from heirloom.domain.pricing import Prices
from heirloom.domain.tiers import DEFAULT_TIER_RULES, Tier, TierRules


class FaultSettings(BaseModel):
    """Faults the local RunPod endpoint injects, for tests (probabilities 0..1, times in ms).

    Set with HEIRLOOM_FAULTS__<NAME>, or at run time through the endpoint's admin route.
    """

    latency_ms: int = Field(default=0, ge=0)
    http_5xx: float = Field(default=0.0, ge=0, le=1)
    http_429: float = Field(default=0.0, ge=0, le=1)
    failed: float = Field(default=0.0, ge=0, le=1)
    stuck_in_queue: float = Field(default=0.0, ge=0, le=1)
    timeout: float = Field(default=0.0, ge=0, le=1)
    execution_ms: int = Field(default=0, ge=0, description="extra simulated GPU time per job")
    # RunPod's per-endpoint request limits, scaled down: /run, /status and /cancel requests
    # beyond this many in one second answer 429 (0: no limit).
    rate_limit_per_s: float = Field(default=0.0, ge=0)
    # The Retry-After header (seconds) of every 429 the endpoint answers; 0 sends none.
    retry_after_s: int = Field(default=1, ge=0)


class QwenSettings(BaseModel):
    """The GPU engine's model, sampling and memory choices (HEIRLOOM_QWEN__<NAME>).

    README "GPU engine" gives VRAM, seconds and cost per choice, with sources.
    """

    model_id: str = "Qwen/Qwen-Image-Edit-2511"
    # 2509 and 2511 releases load with the Plus pipeline; the first release with the plain one.
    pipeline: Literal["QwenImageEditPlusPipeline", "QwenImageEditPipeline"] = (
        "QwenImageEditPlusPipeline"
    )
    steps: int = Field(default=40, ge=1)
    true_cfg_scale: float = Field(default=4.0, ge=1.0)
    # The area the model draws at (input's aspect ratio); GPU seconds grow with it.
    working_pixels: int = Field(default=1024 * 1024, ge=32 * 32)
    dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    device: str = "cuda"
    cpu_offload: Literal["none", "model", "sequential"] = "none"
    # A distilled LoRA (e.g. Lightning) replaces steps and CFG with its own.
    lora_id: str | None = None
    lora_weight_name: str | None = None
    lora_steps: int = Field(default=4, ge=1)
    lora_true_cfg_scale: float = Field(default=1.0, ge=1.0)
    # The noise-schedule shift the LoRA was distilled with; None keeps the model's scheduler.
    lora_shift: float | None = Field(default=3.0, gt=0)


class Settings(BaseSettings):
    """Heirloom's configuration; the defaults run the whole stack locally under HEIRLOOM_HOME."""

    model_config = SettingsConfigDict(
        env_prefix="HEIRLOOM_", env_nested_delimiter="__", extra="ignore"
    )

    home: Path = Path(".heirloom")
    database_url: str | None = None

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_port: int = 8233
    # Where operators open the Temporal Web UI; admin views link each job's workflow there.
    temporal_ui_url: str | None = None

    # Storage
    storage_backend: Literal["local", "s3"] = "local"
    storage_dir: Path | None = None
    s3_bucket: str = "heirloom"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"

    # RunPod
    runpod_api_key: str = "local-dev-key"
    runpod_endpoint_id: str = "heirloom-local"
    runpod_base_url: str = "http://127.0.0.1:8300/v2"
    runpod_poll_interval_s: float = Field(default=0.5, gt=0)
    runpod_execution_timeout_s: int = Field(default=600, gt=0)
    runpod_ttl_s: int = Field(default=3600, gt=0)
    runpod_request_timeout_s: float = Field(default=10.0, gt=0)
    runpod_status_error_limit: int = Field(
        default=10, ge=0, description="consecutive failed status polls before an attempt fails"
    )
    # Each worker process's poll scheduler sends at most this many RunPod requests a second
    # (status polls, submissions, cancels). RunPod allows 2,000 /status and 1,000 /run per 10 s
    # per endpoint: keep the sum over worker processes under 100/s.
    runpod_requests_per_s: float = Field(default=50.0, gt=0)
    # After a 429, every request of the worker waits RunPod's Retry-After, or this when it
    # sends none, never longer than the longest pause.
    runpod_rate_limit_pause_s: float = Field(default=1.0, gt=0)
    runpod_rate_limit_longest_pause_s: float = Field(default=60.0, gt=0)

    # How the handler gets its input and returns its output: inline base64 in RunPod's bodies
    # (local stacks, small images), or S3 objects through presigned URLs the worker makes.
    # "auto" inlines inputs up to runpod_inline_max_bytes (base64 adds a third, RunPod takes
    # 10 MB per /run body) and, with the S3 backend, always returns outputs through S3.
    runpod_transfer: Literal["auto", "inline", "presigned"] = "auto"
    runpod_inline_max_bytes: int = Field(default=6 * 1024 * 1024, gt=0, le=7 * 1024 * 1024)
    runpod_transfer_url_expiry_s: int = Field(default=900, gt=0, le=7 * 24 * 3600)

    # The engine the RunPod handler runs: the GPU model, or the CPU stand-in for local runs.
    engine: Literal["cpu", "qwen"] = "cpu"
    qwen: QwenSettings = Field(default_factory=QwenSettings)

    # Local RunPod-compatible endpoint
    devstack_runpod_host: str = "127.0.0.1"
    devstack_runpod_port: int = 8300
    devstack_runpod_workers: int = Field(default=2, ge=1)
    faults: FaultSettings = Field(default_factory=FaultSettings)

    # API (api_url and api_key are what `heirloom submit` talks to and with)
    api_url: str | None = None
    api_key: str | None = None
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(default=40_000_000, gt=0)
    # Live status streams: each API process reads the change feed at most every interval
    # (PostgreSQL wakes it earlier on a change, but never closer than the gap).
    stream_poll_interval_s: float = Field(default=0.25, gt=0)
    stream_min_gap_s: float = Field(default=0.05, ge=0)
    stream_keepalive_s: float = Field(default=15.0, gt=0)
    stream_token_ttl_s: int = Field(default=300, gt=0, le=3600)
    # Webhooks. Private, loopback and link-local targets are refused unless allowed (dev stack).
    webhook_allow_private_targets: bool = False
    webhook_secret_grace_s: int = Field(default=86_400, ge=0)
    webhook_request_timeout_s: float = Field(default=10.0, gt=0)
    # Retries back off exponentially from the first interval up to the longest, for the window.
    webhook_retry_first_s: float = Field(default=10.0, gt=0)
    webhook_retry_longest_s: float = Field(default=3600.0, gt=0)
    webhook_retry_window_s: int = Field(default=26 * 3600, ge=24 * 3600)
    webhook_dispatch_interval_s: int = Field(default=5, gt=0, le=3600)
    # Job events older than this are pruned hourly; a stream can resume within it. At least
    # the webhook retry window, whose deliveries read their event.
    events_retention_days: int = Field(default=7, ge=2)

    # Worker
    worker_tiers: list[Tier] = Field(default_factory=lambda: list(Tier))
    # At least the largest tier's slots (Temporal warns otherwise); most threads sit idle.
    worker_activity_threads: int = Field(default=32, ge=1)
    worker_db_pool_size: int = Field(default=16, ge=1)
    # Per-tier capacity of one worker. Model calls are async and hold no thread while the GPU
    # works, so a slot is mostly a RunPod job in flight; image steps share the thread pool.
    worker_max_concurrent_activities: dict[Tier, int] = Field(
        default_factory=lambda: {Tier.FREE: 8, Tier.PAID: 32, Tier.FOREVER: 32}
    )
    # Periodic work (Temporal Schedules, declared in worker/schedules.py)
    schedules_enabled: bool = True
    reconcile_interval_s: int = Field(default=60, gt=0, le=3600)
    reconcile_grace_s: int = Field(default=30, ge=0)
    reconcile_batch: int = Field(default=100, ge=1, le=1000)
    # Retention: the cleanup schedule deletes expired jobs' files, `retention_batch` at a time.
    retention_cleanup_interval_s: int = Field(default=3600, gt=0, le=86400)
    retention_batch: int = Field(default=100, ge=1, le=1000)
    # Share links: lifetime when none is asked, the longest allowed, and the public routes'
    # request budget per client address (`rate_limit_share`, a `limits` rate string).
    share_default_ttl_s: int = Field(default=7 * 86400, gt=0)
    share_max_ttl_s: int = Field(default=365 * 86400, gt=0)
    # How long a presigned S3 download URL stays valid.
    download_url_ttl_s: int = Field(default=300, gt=0, le=7 * 86400)
    # POST /v1/jobs answers within this even when no worker serves the tier's queue.
    submit_timeout_s: float = Field(default=10.0, gt=0)
    # Refuse at once (503) when no worker polls the tier's queue. Off for harnesses that submit
    # on purpose while their worker is down (the chaos run); the submit timeout still holds.
    submit_checks_workers: bool = True
    # Model steps this worker process runs at once on the GPU queue. Summed over all worker
    # processes it must equal the GPU pool (the RunPod endpoint's max workers): that bound is the
    # admission control. 0: this process runs no model steps.
    worker_gpu_slots: int = Field(default=2, ge=0)
    # False dispatches new jobs' model steps on their tier's queue, each worker submitting to
    # RunPod as soon as a tier slot is free: the design before the GPU queue, kept as the
    # baseline of bench/fairness.py. Not for production.
    gpu_queue_enabled: bool = True
    # The GPU pool (the RunPod endpoint's max workers) and the model time assumed before any job
    # has completed: wait estimates come from them.
    gpu_pool_size: int = Field(default=2, ge=1)
    gpu_default_model_s: float = Field(default=30.0, gt=0)
    activity_start_to_close_s: int = Field(default=120, gt=0)
    model_start_to_close_s: int = Field(default=900, gt=0)
    model_heartbeat_timeout_s: int = Field(default=30, gt=0)
    # On SIGTERM a worker stops polling and gives running steps this long to finish; a model
    # call still running then is left to its RunPod job, which the next worker resumes.
    # Container stop grace periods should be a few seconds longer.
    worker_graceful_shutdown_s: float = Field(default=20.0, ge=0)
    # An account erasure's long steps heartbeat: a worker killed inside one is noticed this
    # soon and the step runs again on another worker (instead of after its 10-minute timeout).
    erasure_heartbeat_timeout_s: int = Field(default=30, gt=0)

    # Cost accounting. RunPod serverless bills GPU time per second (flex H100 PRO 80 GB:
    # $0.00116/s, docs.runpod.io/serverless/pricing); a credit sells for credit_price_usd.
    gpu_price_per_s_usd: float = Field(default=0.00116, ge=0)
    credit_price_usd: float = Field(default=0.10, ge=0)
    # Budgets in USD of GPU time (None: no budget). Alerts at each threshold (percent of a
    # budget); the free tier pauses at budget_free_pause_pct, every tier at 100.
    budget_daily_usd: float | None = Field(default=None, gt=0)
    budget_monthly_usd: float | None = Field(default=None, gt=0)
    budget_alert_thresholds_pct: list[int] = Field(default_factory=lambda: [50, 80, 100])
    budget_free_pause_pct: int = Field(default=80, gt=0, le=100)

    # Alerts (evaluated by a workflow on a Schedule) and where they go besides the log
    alerts_interval_s: int = Field(default=60, gt=0, le=3600)
    alerts_webhook_url: str | None = None
    alert_window_s: int = Field(default=900, gt=0)
    alert_failure_rate: float = Field(default=0.2, gt=0, le=1)
    alert_failure_min_jobs: int = Field(default=5, ge=1)
    alert_queue_wait_p95_s: float = Field(default=300.0, gt=0)
    # Queue metrics: a snapshot per tier and GPU priority every interval, kept this many days.
    queue_metrics_interval_s: int = Field(default=60, gt=0, le=3600)
    queue_metrics_retention_days: int = Field(default=30, ge=1)

    # Observability: log format, and the worker's Prometheus ports (None: not served)
    log_format: Literal["human", "json"] = "human"
    worker_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    worker_temporal_metrics_port: int | None = Field(default=None, ge=0, le=65535)

    # Business rules
    prices: Prices = Field(default_factory=Prices)
    tier_rules: dict[Tier, TierRules] = Field(default_factory=lambda: dict(DEFAULT_TIER_RULES))

    # Abuse resistance: rate limits in the `limits` notation ("30/minute", "5 per second").
    # Per-key budgets are per tier (tier_rules.rate_limit); these are the others.
    redis_url: str | None = Field(
        default=None, description="shared rate-limit and abuse counters across API processes"
    )
    rate_limits_enabled: bool = True
    rate_limit_namespace: str = Field(
        default="heirloom", description="prefix of every budget and counter in the storage"
    )
    rate_limit_address: str = "3000/minute"
    rate_limit_uploads: str = "60/minute"
    rate_limit_auth_failures: str = "30/minute"
    rate_limit_share: str = "120/minute"
    cors_allow_origins: list[str] = Field(default_factory=list)
    max_api_keys_per_user: int = Field(default=20, ge=1)
    api_key_touch_interval_s: int = Field(
        default=300, gt=0, description="how stale an API key's last-used time may get"
    )
    # Abuse detection: each threshold is "N per window" in the `limits` notation.
    abuse_not_found_probe: str = "50/10 minutes"
    abuse_auth_failures: str = "100/10 minutes"
    abuse_key_addresses: str = "10/hour"
    abuse_download_factor: float = Field(default=10.0, gt=1)
    abuse_download_floor_bytes: int = Field(default=500 * 1024 * 1024, gt=0)
    abuse_auto_suspend: bool = False

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
    def devstack_runpod_base_url(self) -> str:
        return f"http://{self.devstack_runpod_host}:{self.devstack_runpod_port}/v2"
