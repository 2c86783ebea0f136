"""/v1/admin/alerts: alert incidents, open and resolved, newest first."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from heirloom.api.deps import ServicesDep
from heirloom.services.ops.alerts import AlertBook

router = APIRouter(prefix="/v1/admin/alerts", tags=["admin"])


@router.get("")
async def alerts(services: ServicesDep, open_only: bool = False) -> list[dict[str, Any]]:
    rows = await run_in_threadpool(AlertBook(services.db).recent, open_only=open_only)
    return [asdict(row) for row in rows]
