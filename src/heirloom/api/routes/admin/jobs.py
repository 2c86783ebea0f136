"""/v1/admin/jobs: any user's job, with its operator-side record."""

from __future__ import annotations

from fastapi import APIRouter

from heirloom.api.deps import CallerDep, ServicesDep
from heirloom.api.routes.jobs import JobId
from heirloom.api.schemas import AdminJobOut

router = APIRouter(prefix="/v1/admin/jobs", tags=["admin"])


@router.get("/{job_id}", response_model=AdminJobOut)
def get_any_job(job_id: JobId, caller: CallerDep, services: ServicesDep) -> AdminJobOut:
    """Any user's job with its operator-side record and its Temporal Web UI link (audited)."""
    job = services.jobs.get(job_id)
    services.audit.record(caller, owner_id=job.user_id, action="admin_view", job_id=job_id)
    return AdminJobOut.for_operator(job, services.settings.workflow_url(job_id))
