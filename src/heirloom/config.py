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
    """Faults the local RunPod endpoint injects: probabilities 0..1, times in ms.

    Set with HEIRLOOM_FAULTS__<NAME>, or at run time through the endpoint's admin route.
    """

    latency_ms: int = Field(default=0, ge=0)
    http_5xx: float = Field(default=0.0, ge=0, le=1)
    http_429: float = Field(default=0.0, ge=0, le=1)
    failed: float = Field(default=0.0, ge=0, le=1)
    stuck_in_queue: float = Field(default=0.0, ge=0, le=1)
    timeout: float = Field(default=0.0, ge=0, le=1)
    execution_ms: int = Field(default=0, ge=0, description="extra simulated GPU time per job")


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

    # How the handler gets its input and returns its output: inline base64 in RunPod's bodies
    # (local stacks, small images), or S3 objects through presigned URLs the worker makes.
    # "auto" inlines inputs up to runpod_inline_max_bytes (base64 adds a third, RunPod takes
    # 10 MB per /run body) and, with the S3 backend, always returns outputs through S3.
    runpod_transfer: Literal["auto", "inline", "presigned"] = "auto"
    runpod_inline_max_bytes: int = Field(default=6 * 1024 * 1024, gt=0, le=7 * 1024 * 1024)
    runpod_transfer_url_expiry_s: int = Field(default=900, gt=0, le=7 * 24 * 3600)

    # The engine the RunPod handler runs: the GPU model, or the CPU stand-in for local runs.
    engine: Literal["cpu", "qwen"] = "cpu"

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
    # POST /v1/jobs answers within this even when no worker serves the tier's queue.
    submit_timeout_s: float = Field(default=10.0, gt=0)
    activity_start_to_close_s: int = Field(default=120, gt=0)
    model_start_to_close_s: int = Field(default=900, gt=0)
    model_heartbeat_timeout_s: int = Field(default=30, gt=0)
    # On SIGTERM a worker stops polling and gives running steps this long to finish; a model
    # call still running then is left to its RunPod job, which the next worker resumes.
    # Container stop grace periods should be a few seconds longer.
    worker_graceful_shutdown_s: float = Field(default=20.0, ge=0)
    # Tests and dev only: the worker process exits right after RunPod accepts a job and before
    # anything records its id, on each job's first model attempt (the exactly-once window).
    fault_exit_after_submit: bool = False

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

    # Observability: log format, and the worker's Prometheus ports (None: not served)
    log_format: Literal["human", "json"] = "human"
    worker_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    worker_temporal_metrics_port: int | None = Field(default=None, ge=0, le=65535)

    # Business rules
    prices: Prices = Field(default_factory=Prices)
    tier_rules: dict[Tier, TierRules] = Field(default_factory=lambda: dict(DEFAULT_TIER_RULES))

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
