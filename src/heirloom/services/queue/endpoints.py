"""Each endpoint of the GPU pool as the database shows it: its configuration, the model steps
on it now, and its recent model attempts (runs, failures, cost), for `GET /v1/admin/queue`.

Health is each worker's own (services/runpod/pool.py, and its Prometheus gauges); here an
endpoint counts as failing when its latest attempts are a run of failures at least as long as
the workers' threshold, within their cooldown: the same rule (domain/endpoints.py) applied to
what every worker recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col

from heirloom.config import EndpointSettings, Settings
from heirloom.db.engine import Database
from heirloom.db.models import Job, ModelAttempt, as_utc, utcnow
from heirloom.domain.jobs import JobStatus, Stage

# The window of recent attempts shown per endpoint.
RECENT = timedelta(hours=1)
_FAILED = ("FAILED", "TIMED_OUT")


@dataclass(frozen=True)
class EndpointLoad:
    """One endpoint's configuration, load and recent attempts."""

    config: EndpointSettings
    in_flight: int
    attempts_last_hour: int
    failed_last_hour: int
    gpu_s_last_hour: float
    cost_usd_last_hour: float
    consecutive_failures: int
    failing: bool


class EndpointLoads:
    """Reads the GPU pool's endpoints' load from job rows and model attempts."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def all(self) -> list[EndpointLoad]:
        endpoints = self.settings.gpu_endpoints
        first = endpoints[0].id
        now = utcnow()
        with self.db.session() as session:
            # Rows from before the pool (no endpoint) ran on the first endpoint.
            endpoint = sa.func.coalesce(col(Job.runpod_endpoint), first)
            in_flight = dict(
                session.execute(
                    sa.select(endpoint, sa.func.count())
                    .where(
                        col(Job.status) == JobStatus.RUNNING.value,
                        col(Job.stage) == Stage.PROCESSING.value,
                        col(Job.runpod_job_id).is_not(None),
                    )
                    .group_by(endpoint)
                ).all()
            )
            attempt_endpoint = sa.func.coalesce(col(ModelAttempt.endpoint), first)
            recent = session.execute(
                sa.select(
                    attempt_endpoint,
                    sa.func.count(),
                    sa.func.sum(sa.case((col(ModelAttempt.status).in_(_FAILED), 1), else_=0)),
                    sa.func.coalesce(sa.func.sum(col(ModelAttempt.execution_ms)), 0),
                    sa.func.coalesce(sa.func.sum(col(ModelAttempt.cost_usd)), 0.0),
                )
                .where(col(ModelAttempt.created_at) >= now - RECENT)
                .group_by(attempt_endpoint)
            ).all()
            by_endpoint = {row[0]: row[1:] for row in recent}
            latest = {
                e.id: session.execute(
                    sa.select(col(ModelAttempt.status), col(ModelAttempt.created_at))
                    .where(attempt_endpoint == e.id, col(ModelAttempt.duplicate).is_(False))
                    .order_by(col(ModelAttempt.id).desc())
                    .limit(self.settings.runpod_endpoint_failures)
                ).all()
                for e in endpoints
            }
        loads = []
        for config in endpoints:
            count, failed, execution_ms, cost = by_endpoint.get(config.id, (0, 0, 0, 0.0))
            streak = 0
            last_failure = None
            for status, created_at in latest[config.id]:
                if status not in _FAILED:
                    break
                streak += 1
                last_failure = last_failure or as_utc(created_at)
            cooldown = timedelta(seconds=self.settings.runpod_endpoint_cooldown_s)
            failing = (
                streak >= self.settings.runpod_endpoint_failures
                and last_failure is not None
                and now - last_failure < cooldown
            )
            loads.append(
                EndpointLoad(
                    config=config,
                    in_flight=int(in_flight.get(config.id, 0)),
                    attempts_last_hour=int(count),
                    failed_last_hour=int(failed or 0),
                    gpu_s_last_hour=float(execution_ms) / 1000,
                    cost_usd_last_hour=float(cost),
                    consecutive_failures=streak,
                    failing=failing,
                )
            )
        return loads
