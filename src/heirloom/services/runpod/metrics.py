"""Prometheus instruments of the RunPod capability: request latency and errors, model attempts,
GPU seconds and cost (process-wide; the API's and the worker's scrapes show them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
ENDPOINT_REQUESTS = Counter(
    "heirloom_runpod_endpoint_requests",
    "Requests sent to each RunPod endpoint of the GPU pool, by operation.",
    ("endpoint", "operation"),
)
ENDPOINT_RUNS = Counter(
    "heirloom_runpod_endpoint_runs",
    "RunPod jobs seen ended on each endpoint, by RunPod status.",
    ("endpoint", "status"),
)
ENDPOINT_HEALTHY = Gauge(
    "heirloom_runpod_endpoint_healthy",
    "1 while this worker sends new jobs to the endpoint, 0 while it is marked unhealthy.",
    ("endpoint",),
)
ENDPOINT_IN_FLIGHT = Gauge(
    "heirloom_runpod_endpoint_in_flight",
    "Model steps of this worker holding a slot of the endpoint (GPU slots plus prefetch).",
    ("endpoint",),
)
ENDPOINT_SLOTS = Gauge(
    "heirloom_runpod_endpoint_gpu_slots",
    "GPU slots of the endpoint this worker may fill.",
    ("endpoint",),
)
ENDPOINT_COST = Counter(
    "heirloom_runpod_endpoint_cost_usd",
    "GPU cost recorded per endpoint, in USD, at its price.",
    ("endpoint",),
)
GPU_SECONDS = Counter("heirloom_gpu_seconds", "GPU execution seconds recorded.")
GPU_COST = Counter("heirloom_gpu_cost_usd", "GPU cost recorded, in USD.")


def record_attempt(
    status: str, execution_ms: int | None, cost_usd: float, endpoint: str | None = None
) -> None:
    MODEL_ATTEMPTS.labels(status=status).inc()
    if endpoint is not None:
        ENDPOINT_COST.labels(endpoint=endpoint).inc(cost_usd)
    GPU_SECONDS.inc((execution_ms or 0) / 1000)
    GPU_COST.inc(cost_usd)
