"""Prometheus instruments of the RunPod capability: request latency and errors, model attempts,
GPU seconds and cost (process-wide; the API's and the worker's scrapes show them)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RUNPOD_REQUEST_DURATION = Histogram(
    "heirloom_runpod_request_duration_seconds",
    "Latency of requests to the RunPod endpoint by operation.",
    ("operation",),
)
RUNPOD_ERRORS = Counter(
    "heirloom_runpod_errors",
    "RunPod requests that failed (transport error, HTTP error, rate limit) by operation.",
    ("operation", "kind"),
)
MODEL_ATTEMPTS = Counter(
    "heirloom_model_attempts",
    "RunPod executions recorded, by final RunPod status.",
    ("status",),
)
GPU_SECONDS = Counter("heirloom_gpu_seconds", "GPU execution seconds recorded.")
GPU_COST = Counter("heirloom_gpu_cost_usd", "GPU cost recorded, in USD.")


def record_attempt(status: str, execution_ms: int | None, cost_usd: float) -> None:
    MODEL_ATTEMPTS.labels(status=status).inc()
    GPU_SECONDS.inc((execution_ms or 0) / 1000)
    GPU_COST.inc(cost_usd)
