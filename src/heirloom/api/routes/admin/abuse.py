"""/v1/admin/abuse: what the abuse detector recorded, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from heirloom.api import paging
from heirloom.api.deps import ServicesDep
from heirloom.api.schemas import AbuseSignalOut, AbuseSignalPage
from heirloom.domain.paging import MAX_ROW_ID

router = APIRouter(prefix="/v1/admin/abuse", tags=["admin"])


@router.get("", response_model=AbuseSignalPage)
def list_signals(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    cursor: paging.CursorQuery = None,
) -> AbuseSignalPage:
    """Detections and suspensions; pass `next_cursor` back as `cursor` to page."""
    start = paging.before_id(cursor, before_id)
    signals = services.abuse.signals(limit=limit, before_id=start)
    next_before_id = signals[-1].id if len(signals) == limit else None
    return AbuseSignalPage(
        signals=[AbuseSignalOut(**vars(signal)) for signal in signals],
        next_cursor=paging.after_id(next_before_id),
        next_before_id=next_before_id,
    )
