"""ModelRuns: the durable side of exactly-once model runs (the job's RunPod job and claim
generation) and the record of every RunPod job a job's model step ended up with."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from heirloom.db.engine import Database
from heirloom.db.models import Job, ModelAttempt, utcnow
from heirloom.domain.costs import attempt_cost_usd
from heirloom.domain.errors import NotFound
from heirloom.services.runpod import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRunState:
    """What the job row says about its model step."""

    runpod_job_id: str | None
    generation: int
    # The endpoint of its RunPod job, or of a /run whose answer was lost.
    endpoint: str | None = None


@dataclass(frozen=True)
class AttemptRecord:
    """One RunPod job seen at its end (or as a duplicate), with its GPU time."""

    job_id: str
    attempt: int
    generation: int
    runpod_job_id: str
    status: str
    execution_ms: int | None
    delay_ms: int | None
    duplicate_of: str | None = None
    model_try: int = 1
    endpoint: str | None = None


class ModelRuns:
    """Job-row state of the model step and the model_attempts table."""

    def __init__(
        self,
        db: Database,
        *,
        gpu_price_per_s_usd: float = 0.0,
        endpoint_prices: dict[str, float] | None = None,
    ) -> None:
        self.db = db
        self.gpu_price_per_s_usd = gpu_price_per_s_usd
        # Each endpoint's price per GPU second; others (and None) at gpu_price_per_s_usd.
        self.endpoint_prices = dict(endpoint_prices or {})

    def price_per_s_usd(self, endpoint: str | None) -> float:
        if endpoint is None:
            return self.gpu_price_per_s_usd
        return self.endpoint_prices.get(endpoint, self.gpu_price_per_s_usd)

    def state(self, job_id: str) -> ModelRunState:
        with self.db.session() as session:
            row = session.exec(
                select(Job.runpod_job_id, Job.model_generation, Job.runpod_endpoint).where(
                    Job.id == job_id
                )
            ).one_or_none()
        if row is None:
            raise NotFound()
        return ModelRunState(runpod_job_id=row[0], generation=row[1], endpoint=row[2])

    def record_runpod_job(
        self, job_id: str, runpod_job_id: str, endpoint: str | None = None
    ) -> None:
        """Make the job's RunPod job (and its endpoint) durable: a retried attempt resumes it."""
        values: dict[str, object] = {"runpod_job_id": runpod_job_id, "updated_at": utcnow()}
        if endpoint is not None:
            values["runpod_endpoint"] = endpoint
        with self.db.session() as session:
            session.execute(
                sa.update(Job)
                .where(col(Job.id) == job_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def pin_endpoint(self, job_id: str, endpoint: str) -> None:
        """Keep the endpoint a `/run` went to whose answer was lost: RunPod may run that job,
        so the retry submits there again (the claim makes a second one a duplicate) rather
        than to a second endpoint."""
        with self.db.session() as session:
            session.execute(
                sa.update(Job)
                .where(col(Job.id) == job_id, col(Job.runpod_job_id).is_(None))
                .values(runpod_endpoint=endpoint, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )

    def next_generation(self, job_id: str, dead_runpod_job_id: str) -> int:
        """Open the next claim generation after `dead_runpod_job_id` was seen dead.

        Only while that dead job is still the recorded one: two attempts that both saw it dead
        open one generation, not two. Returns the generation now current.
        """
        with self.db.session() as session:
            session.execute(
                sa.update(Job)
                .where(col(Job.id) == job_id, col(Job.runpod_job_id) == dead_runpod_job_id)
                .values(
                    model_generation=col(Job.model_generation) + 1,
                    runpod_job_id=None,
                    runpod_endpoint=None,
                    updated_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
            generation = session.exec(
                select(Job.model_generation).where(Job.id == job_id)
            ).one_or_none()
        if generation is None:
            raise NotFound()
        return generation

    def next_try_generation(self, job_id: str) -> int:
        """Open a claim generation for the quality gate's next model try: its RunPod job must
        run the model again, not find the earlier try's claim. Returns the new generation."""
        with self.db.session() as session:
            session.execute(
                sa.update(Job)
                .where(col(Job.id) == job_id)
                .values(
                    model_generation=col(Job.model_generation) + 1,
                    runpod_job_id=None,
                    runpod_endpoint=None,
                    updated_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
            generation = session.exec(
                select(Job.model_generation).where(Job.id == job_id)
            ).one_or_none()
        if generation is None:
            raise NotFound()
        return generation

    def record_attempt(self, record: AttemptRecord) -> None:
        """Keep one row per (job, RunPod job); seeing the same RunPod job again changes nothing."""
        cost = attempt_cost_usd(record.execution_ms, self.price_per_s_usd(record.endpoint))
        with self.db.session() as session:
            try:
                session.add(
                    ModelAttempt(
                        job_id=record.job_id,
                        attempt=record.attempt,
                        generation=record.generation,
                        runpod_job_id=record.runpod_job_id,
                        status=record.status,
                        execution_ms=record.execution_ms,
                        delay_ms=record.delay_ms,
                        duplicate=record.duplicate_of is not None,
                        duplicate_of=record.duplicate_of,
                        cost_usd=cost,
                        model_try=record.model_try,
                        endpoint=record.endpoint,
                    )
                )
                session.flush()
            except IntegrityError:
                session.rollback()
                return
        metrics.record_attempt(record.status, record.execution_ms, cost, record.endpoint)
        log.info(
            "model attempt recorded: RunPod job %s %s, %s ms, %.6f USD",
            record.runpod_job_id,
            record.status,
            record.execution_ms,
            cost,
        )

    def attempts(self, job_ids: list[str]) -> list[ModelAttempt]:
        with self.db.session() as session:
            return list(
                session.exec(
                    select(ModelAttempt)
                    .where(col(ModelAttempt.job_id).in_(job_ids))
                    .order_by(col(ModelAttempt.id))
                )
            )
