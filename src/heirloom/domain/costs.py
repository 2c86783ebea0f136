"""Cost arithmetic: what a GPU execution costs, percentiles, and a month-end forecast.

RunPod serverless bills a worker per second from start to full stop: cold start (container
start, model load), execution and the idle timeout after it (docs.runpod.io/serverless/pricing).
A job's status reports its own `executionTime`; cold start and idle time belong to the worker,
not to one job, so they show in RunPod's invoice but not in per-attempt cost. A cancelled job
is billed for the worker time it used until the cancel stopped it; its `executionTime` says so.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from datetime import datetime


def attempt_cost_usd(execution_ms: int | None, price_per_s_usd: float) -> float:
    """The GPU cost of one execution: its execution time times the price per second."""
    return (execution_ms or 0) / 1000 * price_per_s_usd


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (pct in 0..100) of `values`; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def month_end_forecast(month_to_date: float, now: datetime) -> float:
    """Extrapolate a month-to-date amount at its average rate so far to the month's end."""
    days = calendar.monthrange(now.year, now.month)[1]
    elapsed_days = (now.day - 1) + (now.hour * 3600 + now.minute * 60 + now.second) / 86400
    if elapsed_days <= 0:
        return month_to_date
    return month_to_date / elapsed_days * days
