"""Settling a job whose run is gone: refund once, remove partial outputs, record why.

The workflow's own compensation does this for every ending it sees. This module serves the
endings it cannot see: a terminated, timed-out or reset run, a charge that landed after the run
gave up, or a submission whose run the API stopped because no worker answered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from heirloom.domain.errors import HeirloomError, Interrupted
from heirloom.domain.jobs import EndedBy, JobStatus
from heirloom.services.jobs.store import JobStore
from heirloom.services.money.credits import CreditManager
from heirloom.services.runpod.client import RunPodService
from heirloom.services.storage.base import Storage
from heirloom.services.storage.keys import (
    KEY_KINDS,
    candidates_prefix,
    claims_prefix,
    job_key,
    model_outputs_prefix,
)

log = logging.getLogger(__name__)

# The extensions a job's derived files are written with.
_OUTPUT_EXTENSIONS = ("jpg", "png")


def remove_partial_outputs(storage: Storage, user_id: str, job_id: str) -> None:
    """Delete every file a job derived from its original; the original stays for a retry.

    The model-run claims go first: a GPU handler still running stops within one step of
    losing its claim and takes back an upload that raced this (gpu_handler/handler.py). Every
    generation's model output goes, whichever generation wrote it.
    """
    storage.delete_prefix(claims_prefix(user_id, job_id))
    storage.delete_prefix(model_outputs_prefix(user_id, job_id))
    storage.delete_prefix(candidates_prefix(user_id, job_id))
    for kind in KEY_KINDS:
        if kind == "original":
            continue
        for ext in _OUTPUT_EXTENSIONS:
            storage.delete(job_key(user_id, job_id, kind, ext))


def stop_gpu_job(runpod: RunPodService, job_id: str, runpod_job_id: str | None) -> None:
    """Cancel a job's RunPod job if it has one; one that has ended is left as it is.

    Nobody will collect its result, and a model step that timed out leaves it running. The
    `/cancel` keeps to RunPod's own limit for it: `RunPodService.cancel` takes the process's
    cancel budget, shared with the model steps' cancels. One it cannot send in time is logged;
    the withdrawn claim (`remove_partial_outputs`) still stops the handler within one step.
    """
    if runpod_job_id is None:
        return
    try:
        runpod.cancel(runpod_job_id)
    except HeirloomError as err:
        log.warning("job %s: cancelling RunPod job %s failed: %s", job_id, runpod_job_id, err)


@dataclass(frozen=True)
class Settled:
    """What settling one job did; `refunded` is 0 when nothing was owed or it was paid before."""

    job_id: str
    refunded: int
    ended: bool


class Settlement:
    """Ends unfinished jobs as failed `interrupted`, refunding exactly once."""

    def __init__(
        self,
        credits: CreditManager,
        jobs: JobStore,
        storage: Storage,
        runpod: RunPodService,
        *,
        others: Mapping[str, RunPodService] | None = None,
    ) -> None:
        self.credits = credits
        self.jobs = jobs
        self.storage = storage
        self.runpod = runpod
        # The GPU pool's other endpoints: a job's RunPod job is cancelled where it runs.
        self.others = dict(others or {})

    def settle_interrupted(self, job_id: str, *, detail: str) -> Settled:
        """Settle a job whose run is closed; a job that already ended is left as it is."""
        job = self.jobs.find(job_id)
        if job is None or JobStatus(job.status).is_final:
            return Settled(job_id=job_id, refunded=0, ended=False)
        runpod = self.others.get(job.runpod_endpoint or "", self.runpod)
        stop_gpu_job(runpod, job_id, job.runpod_job_id)
        refund = self.credits.refund(job_id, f"job {job_id} interrupted")
        remove_partial_outputs(self.storage, job.user_id, job_id)
        self.jobs.finish_unsuccessfully(
            job_id,
            JobStatus.FAILED,
            code=Interrupted.code,
            message=Interrupted.default_message,
            detail=detail,
            ended_by=EndedBy.SYSTEM,
        )
        log.warning("settled interrupted job %s: refunded %d (%s)", job_id, refund.amount, detail)
        return Settled(job_id=job_id, refunded=refund.amount, ended=True)
