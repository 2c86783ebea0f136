"""/v1/admin/abuse: what the abuse detector recorded, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from heirloom.api.deps import ServicesDep
from heirloom.api.schemas import AbuseSignalOut, AbuseSignalPage

router = APIRouter(prefix="/v1/admin/abuse", tags=["admin"])


@router.get("", response_model=AbuseSignalPage)
def list_signals(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> AbuseSignalPage:
    """Detections and suspensions; pass `next_before_id` back as `before_id` to page."""
    signals = services.abuse.signals(limit=limit, before_id=before_id)
    return AbuseSignalPage(
        signals=[AbuseSignalOut(**vars(signal)) for signal in signals],
        next_before_id=signals[-1].id if len(signals) == limit else None,
    )
