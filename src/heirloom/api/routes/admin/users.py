"""/v1/admin/users: list and create users, grant credits, change tiers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, status

from heirloom.api import paging
from heirloom.api.contract import errors
from heirloom.api.deps import CurrentCaller, ServicesDep
from heirloom.api.schemas import (
    GrantIn,
    GrantOut,
    LedgerLineOut,
    UserCreate,
    UserCreated,
    UserOut,
    UserPage,
    UserSummaryOut,
    UserUpdate,
)
from heirloom.db.models import as_utc
from heirloom.domain.errors import InvalidQuery

router = APIRouter(prefix="/v1/admin/users", tags=["admin"])

UserId = Annotated[str, Path(min_length=1, max_length=32)]
# Deeper pages than this are refused (422) rather than handed to the database to overflow.
MAX_OFFSET = 1_000_000


@router.get("", response_model=UserPage)
def list_users(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: paging.CursorQuery = None,
    offset: Annotated[
        int,
        Query(ge=0, le=MAX_OFFSET, description="the older paging by position; prefer `cursor`"),
    ] = 0,
    email: Annotated[
        str | None, Query(max_length=320, description="only emails containing this")
    ] = None,
) -> UserPage:
    """Users newest first, with their balance and how many jobs each submitted; pass
    `next_cursor` back as `cursor` for the next page (`offset` is the older form)."""
    next_cursor = None
    if offset:
        if cursor is not None:
            raise InvalidQuery("Pass `cursor` or `offset`, not both.")
        found = services.accounts.page(limit=limit, offset=offset, email_contains=email)
    else:
        page = services.accounts.page_after(
            limit=limit, after=paging.decode(cursor), email_contains=email
        )
        found, next_cursor = page.rows, page.next_cursor
    return UserPage(
        users=[
            UserSummaryOut(
                **UserOut.from_user(row.user).model_dump(),
                created_at=as_utc(row.user.created_at),
                jobs=row.jobs,
            )
            for row in found
        ],
        next_cursor=next_cursor.encode() if next_cursor else None,
        limit=limit,
        offset=offset,
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=UserCreated, responses=errors(409)
)
def create_user(body: UserCreate, services: ServicesDep) -> UserCreated:
    """Create a user; the API key in the answer is shown this once."""
    account = services.accounts.create(email=body.email, tier=body.tier, credits=body.credits)
    return UserCreated(**UserOut.from_user(account.user).model_dump(), api_key=account.api_key)


@router.post("/{user_id}/credits", response_model=GrantOut, responses=errors(409))
def grant_credits(
    user_id: UserId,
    body: GrantIn,
    admin: CurrentCaller,
    services: ServicesDep,
    idempotency_key: Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=150)],
) -> GrantOut:
    """Grant credits once per Idempotency-Key; a repeat returns the first grant. The ledger
    row records the admin and the key they used."""
    line = services.credits.grant(
        user_id,
        body.amount,
        body.reason,
        idempotency_key,
        by_user_id=admin.user.id,
        by_key_id=admin.key_id,
    )
    return GrantOut(entry=LedgerLineOut(**vars(line)), balance=services.credits.balance(user_id))


@router.patch("/{user_id}", response_model=UserOut)
def update_user(
    user_id: UserId, body: UserUpdate, admin: CurrentCaller, services: ServicesDep
) -> UserOut:
    """Change a user's tier; retention follows the policy in services/results/retention.py.
    The change is recorded with the admin and the key they used."""
    user = services.accounts.set_tier(
        user_id, body.tier, by_user_id=admin.user.id, by_key_id=admin.key_id
    )
    services.retention.on_tier_change(user_id, body.tier)
    return UserOut.from_user(user)
