"""The alert rules as pure functions: what fires, at which key, and what does not."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from heirloom.domain.alerts import (
    AlertLimits,
    BudgetUse,
    RunPodHealth,
    Snapshot,
    evaluate,
)
from heirloom.domain.costs import attempt_cost_usd, month_end_forecast, percentile

LIMITS = AlertLimits(failure_rate=0.2, failure_min_jobs=5, queue_wait_p95_s=300, window_s=900)
QUIET = Snapshot(
    budgets=[],
    thresholds_pct=[50, 80, 100],
    ended_jobs=0,
    failed_jobs=0,
    queue_waits_p95_s=None,
    tiers_without_worker=[],
    runpod=RunPodHealth(reachable=True, idle_workers=1),
    runpod_previous_in_queue=None,
)


def keys(snapshot: Snapshot) -> list[str]:
    return [finding.key for finding in evaluate(snapshot, LIMITS)]


def test_a_quiet_snapshot_raises_nothing() -> None:
    assert keys(QUIET) == []


def test_a_budget_raises_one_incident_at_its_highest_threshold() -> None:
    assert keys(replace(QUIET, budgets=[BudgetUse("day", 49.9)])) == []
    assert keys(replace(QUIET, budgets=[BudgetUse("day", 85)])) == ["budget:day:80"]
    over = evaluate(replace(QUIET, budgets=[BudgetUse("month", 130)]), LIMITS)
    assert [(f.key, f.severity) for f in over] == [("budget:month:100", "critical")]


def test_queue_wait_p95_over_its_limit_fires() -> None:
    assert keys(replace(QUIET, queue_waits_p95_s=300)) == []
    assert keys(replace(QUIET, queue_waits_p95_s=301)) == ["queue_wait"]


def test_a_database_error_is_the_only_finding() -> None:
    broken = replace(QUIET, database_error="OperationalError", tiers_without_worker=["free"])
    assert keys(broken) == ["database"]


def test_runpod_busy_is_unhealthy_only_while_its_queue_grows() -> None:
    busy = RunPodHealth(reachable=True, idle_workers=0, in_queue=3)
    assert keys(replace(QUIET, runpod=busy, runpod_previous_in_queue=3)) == []
    assert keys(replace(QUIET, runpod=busy, runpod_previous_in_queue=2)) == ["runpod_unhealthy"]


def test_cost_arithmetic() -> None:
    assert attempt_cost_usd(2500, 0.00116) == 2.5 * 0.00116
    assert attempt_cost_usd(None, 0.00116) == 0
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile([float(n) for n in range(1, 101)], 95) == 95.0
    assert percentile([], 95) is None
    # Ten days into a 30-day month at 10 USD a day: 300 USD by its end.
    assert month_end_forecast(100.0, datetime(2026, 11, 11, tzinfo=UTC)) == 300.0
