"""/v1/queue: the GPU queue per tier, for anyone with an API key (operators' statistics are
/v1/admin/queue)."""

from __future__ import annotations

from fastapi import APIRouter

from heirloom.api.deps import CurrentUser, ServicesDep
from heirloom.api.schemas import QueueOut, TierQueueOut
from heirloom.db.models import utcnow

router = APIRouter(prefix="/v1/queue", tags=["queue"])


@router.get("", response_model=QueueOut)
def get_queue(_user: CurrentUser, services: ServicesDep) -> QueueOut:
    """Per tier: jobs waiting for a GPU, jobs on one, the oldest wait, the last hour's p50."""
    return QueueOut(
        gpu_pool_size=services.settings.gpu_pool_size,
        tiers=[TierQueueOut(**vars(t)) for t in services.gpu_queue.tiers(utcnow())],
    )
