"""/v1/admin: the operators' routes, one module per resource, all behind one admin dependency.

The dependency sits on this router, so a route added to any module here answers 401 without a
key and 403 to a user's key before it runs; a route that needs the admin's identity also takes
`deps.AdminUser` (the same dependency, run once). Each module's router carries its whole path
prefix, /v1/admin included: FastAPI (0.137 on) leaves the prefix of an inclusion out of
`scope["route"]`, by which the request metrics label a request.
"""

from __future__ import annotations

from fastapi import APIRouter

from heirloom.api.deps import AdminOnly
from heirloom.api.routes.admin import (
    abuse,
    alerts,
    analytics,
    audit,
    budgets,
    cost_reports,
    health,
    jobs,
    keys,
    purchases,
    queue,
    users,
)

router = APIRouter(dependencies=[AdminOnly])
for resource in (
    users,
    jobs,
    audit,
    keys,
    abuse,
    health,
    queue,
    cost_reports,
    budgets,
    alerts,
    analytics,
    purchases,
):
    router.include_router(resource.router)
