"""/v1/admin/alerts: alert incidents, open and resolved, newest first (admin only)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from heirloom.api.deps import AdminUser, ServicesDep
from heirloom.services.ops.alerts import AlertBook

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/alerts")
async def alerts(
    _admin: AdminUser, services: ServicesDep, open_only: bool = False
) -> list[dict[str, Any]]:
    rows = await run_in_threadpool(AlertBook(services.db).recent, open_only=open_only)
    return [asdict(row) for row in rows]
