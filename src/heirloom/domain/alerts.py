"""Alert rules as pure functions of a snapshot, and the messages of the alerts workflow.

A rule returns the findings that hold now; a finding's key names the incident, so the same
finding on the next evaluation continues the incident instead of raising a new alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from heirloom.domain.periodic import Pace

CRITICAL = "critical"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """A condition that holds now: its incident key, severity and plain message."""

    key: str
    severity: str
    message: str


@dataclass(frozen=True)
class BudgetUse:
    period: str
    used_pct: float


@dataclass(frozen=True)
class RunPodHealth:
    """RunPod's /health counts, or None when the endpoint did not answer."""

    reachable: bool
    idle_workers: int = 0
    in_queue: int = 0


@dataclass(frozen=True)
class Snapshot:
    """Everything the rules look at, gathered once per evaluation."""

    budgets: Sequence[BudgetUse]
    thresholds_pct: Sequence[int]
    ended_jobs: int
    failed_jobs: int
    queue_waits_p95_s: float | None
    tiers_without_worker: Sequence[str]
    runpod: RunPodHealth
    runpod_previous_in_queue: int | None
    database_error: str | None = None


@dataclass(frozen=True)
class AlertLimits:
    failure_rate: float
    failure_min_jobs: int
    queue_wait_p95_s: float
    window_s: int


def budget_findings(snapshot: Snapshot) -> list[Finding]:
    """One incident per budget period at the highest threshold crossed."""
    findings = []
    for use in snapshot.budgets:
        crossed = [t for t in sorted(snapshot.thresholds_pct) if use.used_pct >= t]
        if crossed:
            top = crossed[-1]
            severity = CRITICAL if top >= 100 else WARNING
            findings.append(
                Finding(
                    f"budget:{use.period}:{top}",
                    severity,
                    f"{use.period} GPU budget {use.used_pct:.0f}% used (threshold {top}%)",
                )
            )
    return findings


def failure_rate_findings(snapshot: Snapshot, limits: AlertLimits) -> list[Finding]:
    ended = snapshot.ended_jobs
    if ended < limits.failure_min_jobs:
        return []
    rate = snapshot.failed_jobs / ended
    if rate < limits.failure_rate:
        return []
    return [
        Finding(
            "failure_rate",
            CRITICAL,
            f"{rate:.0%} of {ended} jobs failed in the last {limits.window_s // 60} min "
            f"(limit {limits.failure_rate:.0%})",
        )
    ]


def queue_wait_findings(snapshot: Snapshot, limits: AlertLimits) -> list[Finding]:
    p95 = snapshot.queue_waits_p95_s
    if p95 is None or p95 <= limits.queue_wait_p95_s:
        return []
    return [
        Finding(
            "queue_wait",
            WARNING,
            f"queue wait p95 {p95:.0f} s over {limits.queue_wait_p95_s:.0f} s",
        )
    ]


def runpod_findings(snapshot: Snapshot) -> list[Finding]:
    """Unreachable, or no idle worker while the queue grows."""
    health = snapshot.runpod
    if not health.reachable:
        return [Finding("runpod_unhealthy", CRITICAL, "RunPod endpoint unreachable")]
    previous = snapshot.runpod_previous_in_queue
    growing = previous is not None and health.in_queue > previous
    if health.idle_workers == 0 and health.in_queue > 0 and growing:
        return [
            Finding(
                "runpod_unhealthy",
                CRITICAL,
                f"RunPod has no idle worker and its queue grows ({previous} -> "
                f"{health.in_queue} jobs)",
            )
        ]
    return []


def worker_findings(snapshot: Snapshot) -> list[Finding]:
    return [
        Finding(f"no_worker:{tier}", CRITICAL, f"no worker polls the {tier} tier's queue")
        for tier in snapshot.tiers_without_worker
    ]


def evaluate(snapshot: Snapshot, limits: AlertLimits) -> list[Finding]:
    """Every rule over one snapshot."""
    if snapshot.database_error is not None:
        return [Finding("database", CRITICAL, f"database error: {snapshot.database_error}")]
    return [
        *budget_findings(snapshot),
        *failure_rate_findings(snapshot, limits),
        *queue_wait_findings(snapshot, limits),
        *runpod_findings(snapshot),
        *worker_findings(snapshot),
    ]


@dataclass(frozen=True)
class AlertsInput:
    """The workflow's input, from the schedule: the rules' window, and the pace of its
    evaluations within the run (default: one)."""

    window_s: int = 900
    pace: Pace = field(default_factory=Pace)


@dataclass(frozen=True)
class AlertNotice:
    """An alert opened or resolved, to deliver to the log and the webhook."""

    alert_id: int
    key: str
    severity: str
    message: str
    state: str  # "firing" or "resolved"


@dataclass(frozen=True)
class AlertsReport:
    findings: int
    notices: list[AlertNotice]
