"""The model step without a database or storage, for load at scale (bench/pool_sim.py): the
real `ModelStep` over the real GPU pool, clients and poll schedulers, with in-memory stand-ins
for the job rows, the attempts table, storage and the transfer payload. What the worker spends
on the database per job is measured apart (bench/overhead.py)."""

from __future__ import annotations

from typing import Any, cast

from heirloom.config import Settings
from heirloom.domain.jobs import Stage
from heirloom.domain.messages import ModelRequest
from heirloom.services.runpod.model_step import ModelStep
from heirloom.services.runpod.pool import EndpointPool
from heirloom.services.runpod.runs import AttemptRecord, ModelRunState
from heirloom.services.storage.keys import model_key


class MemoryStages:
    """Job stages kept nowhere: the step's writes cost a thread hop, as the real ones do."""

    def set_stage(self, job_id: str, stage: Stage, *, runpod_job_id: str | None = None) -> None:
        return None

    def set_progress(self, job_id: str, progress: int) -> None:
        return None

    def set_model(self, job_id: str, model: str, provenance: dict[str, Any] | None = None) -> None:
        return None


class MemoryRuns:
    """The attempts a step records, counted by status; every job starts at generation 0."""

    def __init__(self) -> None:
        self.by_status: dict[str, int] = {}

    def state(self, job_id: str) -> ModelRunState:
        return ModelRunState(runpod_job_id=None, generation=0)

    def record_attempt(self, record: AttemptRecord) -> None:
        self.by_status[record.status] = self.by_status.get(record.status, 0) + 1

    def record_runpod_job(
        self, job_id: str, runpod_job_id: str, endpoint: str | None = None
    ) -> None:
        return None

    def pin_endpoint(self, job_id: str, endpoint: str) -> None:
        return None


class PresentStorage:
    """Storage in which the handler's output is always there (the simulated GPU wrote it)."""

    def exists(self, key: str) -> bool:
        return True


class KeyTransfer:
    """A `/run` input naming only the job and the output key the simulated handler returns."""

    def payload(self, request: ModelRequest, generation: int) -> dict[str, Any]:
        job = request.job
        return {"job_ref": job.job_id, "output_key": model_key(job.user_id, job.job_id, generation)}


def bare_step(settings: Settings, pool: EndpointPool, runs: MemoryRuns) -> ModelStep:
    """A model step over `pool` with the in-memory stand-ins."""
    return ModelStep(
        runpod=pool.first.service,
        polls=pool.first.polls,
        pool=pool,
        runs=cast(Any, runs),
        jobs=MemoryStages(),
        storage=cast(Any, PresentStorage()),
        transfer=cast(Any, KeyTransfer()),
        settings=settings,
    )
