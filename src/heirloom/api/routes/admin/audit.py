"""/v1/admin/audit: who accessed one user's photos, and when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from heirloom.api import paging
from heirloom.api.deps import ServicesDep
from heirloom.api.schemas import AuditOut, AuditPage, IsoDateTime
from heirloom.domain.paging import MAX_ROW_ID

router = APIRouter(prefix="/v1/admin/audit", tags=["admin"])


@router.get("", response_model=AuditPage)
def query_audit(
    services: ServicesDep,
    user_id: str,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    cursor: paging.CursorQuery = None,
) -> AuditPage:
    """Accesses to one user's photos in [since, until), newest first; page with `cursor`."""
    start = paging.before_id(cursor, before_id)
    entries = services.audit.query(user_id, since=since, until=until, before_id=start, limit=limit)
    next_before_id = entries[-1].id if len(entries) == limit else None
    return AuditPage(
        entries=[AuditOut.from_entry(entry) for entry in entries],
        next_cursor=paging.after_id(next_before_id),
        next_before_id=next_before_id,
    )
