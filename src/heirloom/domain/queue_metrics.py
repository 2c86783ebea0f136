"""Queue-metrics snapshots: the scheduled workflow's input, its activity's request and report."""

from __future__ import annotations

from dataclasses import dataclass, field

from heirloom.domain.periodic import Pace


@dataclass(frozen=True)
class QueueMetricsInput:
    """What the Schedule starts the workflow with: how long snapshots are kept, and the pace of
    its snapshots within the run (default: one)."""

    retention_days: int = 30
    pace: Pace = field(default_factory=Pace)


@dataclass(frozen=True)
class SnapshotRequest:
    """Take one snapshot at `taken_at` (epoch seconds, the workflow's time, so a retried
    activity writes the same snapshot) and prune snapshots older than the retention."""

    taken_at: float
    retention_days: int


@dataclass(frozen=True)
class SnapshotReport:
    """Rows written (0 when a retry found the snapshot already there) and rows pruned."""

    rows: int
    pruned: int
