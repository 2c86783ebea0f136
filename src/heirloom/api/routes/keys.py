"""/v1/me/keys: a user's named API keys (an admin revokes any key at /v1/admin/keys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from heirloom.api import paging
from heirloom.api.contract import errors
from heirloom.api.deps import CurrentCaller, CurrentUser, ServicesDep
from heirloom.api.schemas import KeyCreate, KeyCreated, KeyList, KeyOut, KeyRevoke, KeyRevoked
from heirloom.services.accounts.keys import KeyInfo

router = APIRouter(prefix="/v1/me/keys", tags=["keys"])

KeyId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


def _out(info: KeyInfo) -> KeyOut:
    return KeyOut(
        id=info.id,
        name=info.name,
        prefix=info.prefix,
        created_at=info.created_at,
        last_used_at=info.last_used_at,
        revoked_at=info.revoked_at,
        revoked_reason=info.revoked_reason,
        created_by_key_id=info.created_by_key_id,
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=KeyCreated, responses=errors(409)
)
def create_key(body: KeyCreate, caller: CurrentCaller, services: ServicesDep) -> KeyCreated:
    """Create a named key; the key itself is in this answer only, never again. The key that
    asked is recorded as its creator."""
    new = services.keys.create(caller.user.id, body.name, created_by_key_id=caller.key_id)
    return KeyCreated(**_out(new.info).model_dump(), api_key=new.api_key)


@router.get("", response_model=KeyList)
def list_keys(
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    cursor: paging.CursorQuery = None,
) -> KeyList:
    """The caller's keys, revoked ones included, newest first; page with `cursor`."""
    page = services.keys.page_owned_by(user.id, limit=limit, after=paging.decode(cursor))
    return KeyList(
        keys=[_out(info) for info in page.rows],
        next_cursor=paging.next_token(page),
    )


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def revoke_key(key_id: KeyId, user: CurrentUser, services: ServicesDep) -> Response:
    """Revoke one of the caller's keys; it is refused from the next request on."""
    services.keys.revoke(key_id, user_id=user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{key_id}/revoke", response_model=KeyRevoked, responses=errors(404))
def revoke_key_and_more(
    key_id: KeyId, body: KeyRevoke, user: CurrentUser, services: ServicesDep
) -> KeyRevoked:
    """Revoke one of the caller's keys; with `cascade`, also everything it created: the keys
    it made (and theirs), their share links (410 from now on) and the webhook one of them set
    last (removed). Their stream tokens and open streams end too."""
    if not body.cascade:
        services.keys.revoke(key_id, user_id=user.id)
        return KeyRevoked(revoked_key_ids=[key_id], revoked_share_ids=[], webhook_removed=False)
    revoked = services.keys.revoke_with_everything_it_created(key_id, user_id=user.id)
    return KeyRevoked(
        revoked_key_ids=list(revoked.key_ids),
        revoked_share_ids=list(revoked.share_ids),
        webhook_removed=revoked.webhook_removed,
    )
