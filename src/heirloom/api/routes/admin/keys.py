"""/v1/admin/keys: an admin revokes any user's key."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from heirloom.api.deps import ServicesDep
from heirloom.api.routes.keys import KeyId

router = APIRouter(prefix="/v1/admin/keys", tags=["admin"])


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def admin_revoke_key(key_id: KeyId, services: ServicesDep) -> Response:
    """Revoke any user's key (a leaked or abused one)."""
    services.keys.revoke(key_id, reason="revoked by an admin")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
