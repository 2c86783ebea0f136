"""/v1/admin: create users, grant credits, change tiers, inspect jobs (admin API keys only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, status

from heirloom.api.contract import errors
from heirloom.api.deps import AdminUser, ServicesDep
from heirloom.api.schemas import (
    AdminJobOut,
    GrantIn,
    GrantOut,
    LedgerLineOut,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)

router = APIRouter(prefix="/v1/admin", tags=["admin"])

UserId = Annotated[str, Path(min_length=1, max_length=32)]
JobId = Annotated[str, Path(min_length=1, max_length=64)]


@router.post(
    "/users", status_code=status.HTTP_201_CREATED, response_model=UserCreated, responses=errors(409)
)
def create_user(body: UserCreate, _admin: AdminUser, services: ServicesDep) -> UserCreated:
    """Create a user; the API key in the answer is shown this once."""
    account = services.accounts.create(email=body.email, tier=body.tier, credits=body.credits)
    return UserCreated(**UserOut.from_user(account.user).model_dump(), api_key=account.api_key)


@router.post("/users/{user_id}/credits", response_model=GrantOut, responses=errors(409))
def grant_credits(
    user_id: UserId,
    body: GrantIn,
    _admin: AdminUser,
    services: ServicesDep,
    idempotency_key: Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=150)],
) -> GrantOut:
    """Grant credits once per Idempotency-Key; a repeat returns the first grant."""
    line = services.credits.grant(user_id, body.amount, body.reason, idempotency_key)
    return GrantOut(entry=LedgerLineOut(**vars(line)), balance=services.credits.balance(user_id))


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(
    user_id: UserId, body: UserUpdate, _admin: AdminUser, services: ServicesDep
) -> UserOut:
    return UserOut.from_user(services.accounts.set_tier(user_id, body.tier))


@router.get("/jobs/{job_id}", response_model=AdminJobOut)
def get_any_job(job_id: JobId, _admin: AdminUser, services: ServicesDep) -> AdminJobOut:
    """Any user's job with its operator-side record and its Temporal Web UI link."""
    job = services.jobs.get(job_id)
    return AdminJobOut.for_operator(job, services.settings.workflow_url(job_id))
