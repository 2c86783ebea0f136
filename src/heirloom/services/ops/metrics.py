"""Prometheus metrics: process-wide instruments, and the database-derived families that an API
scrape reads fresh (jobs by status and tier, credits, GPU jobs in flight, backlog, pool use).

The RunPod instruments live beside the RunPod client (services/runpod/metrics.py); one
scrape shows them all. Names follow Prometheus conventions: base units (seconds, USD),
`_total` on counters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlmodel import col

from heirloom.db.engine import Database
from heirloom.db.models import CreditEntry, Job
from heirloom.domain.jobs import JobStatus, Stage
from heirloom.domain.tiers import Tier

HTTP_REQUEST_DURATION = Histogram(
    "heirloom_http_request_duration_seconds",
    "API request latency by route template, method and status code.",
    ("method", "route", "status"),
)


class JobsCollector(Collector):
    """Reads the database at scrape time; registered on a per-scrape registry."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterable[Metric]:
        jobs = GaugeMetricFamily(
            "heirloom_jobs", "Jobs by status and tier.", labels=("status", "tier")
        )
        backlog = GaugeMetricFamily(
            "heirloom_queue_backlog_jobs",
            "Jobs waiting to start, by tier.",
            labels=("tier",),
        )
        in_flight = GaugeMetricFamily(
            "heirloom_gpu_jobs_in_flight", "Jobs whose model step is running on RunPod."
        )
        reserved = CounterMetricFamily(
            "heirloom_credits_reserved", "Credits reserved (charged) for jobs."
        )
        refunded = CounterMetricFamily("heirloom_credits_refunded", "Credits refunded to users.")
        counts: dict[tuple[str, str], int] = {
            (status.value, tier.value): 0 for status in JobStatus for tier in Tier
        }
        with self.db.session() as session:
            for status, tier, n in session.execute(
                sa.select(col(Job.status), col(Job.tier), sa.func.count()).group_by(
                    col(Job.status), col(Job.tier)
                )
            ):
                counts[(status, tier)] = int(n)
            running = session.execute(
                sa.select(sa.func.count()).where(
                    col(Job.status) == JobStatus.RUNNING.value,
                    col(Job.stage) == Stage.PROCESSING.value,
                )
            ).scalar_one()
            ledger = dict(
                session.execute(
                    sa.select(col(CreditEntry.kind), sa.func.sum(col(CreditEntry.amount)))
                    .where(col(CreditEntry.kind).in_(("reserve", "refund")))
                    .group_by(col(CreditEntry.kind))
                ).all()
            )
        for (status, tier), n in sorted(counts.items()):
            jobs.add_metric((status, tier), n)
        for tier in Tier:
            backlog.add_metric((tier.value,), counts.get((JobStatus.QUEUED.value, tier.value), 0))
        in_flight.add_metric((), int(running))
        reserved.add_metric((), -int(ledger.get("reserve") or 0))
        refunded.add_metric((), int(ledger.get("refund") or 0))
        yield from (jobs, backlog, in_flight, reserved, refunded, self._pool())

    def _pool(self) -> Metric:
        pool: Any = self.db.engine.pool
        family = GaugeMetricFamily(
            "heirloom_db_pool_connections",
            "Database pool connections by state.",
            labels=("state",),
        )
        for state in ("checkedout", "checkedin", "size", "overflow"):
            reading = getattr(pool, state, None)
            if callable(reading):
                family.add_metric((state,), float(reading()))
        return family


def api_exposition(db: Database) -> bytes:
    """The process's instruments followed by the database-derived families."""
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(JobsCollector(db))
    return generate_latest(REGISTRY) + generate_latest(scrape)


class ExpositionCache:
    """The API's latest scrape, reused for `ttl_s`: a flood of /metrics runs the database's
    queries at most once per `ttl_s` (concurrent scrapes share one reading)."""

    def __init__(
        self, db: Database, ttl_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._body: bytes | None = None
        self._read_at = 0.0

    def get(self) -> bytes:
        """The exposition, read fresh when the cached one is older than `ttl_s`."""
        arrived = self._clock()
        with self._lock:
            if self._body is not None and (
                self._read_at >= arrived or arrived - self._read_at < self.ttl_s
            ):
                return self._body
            read_at = self._clock()
            self._body = api_exposition(self.db)
            self._read_at = read_at
            return self._body
