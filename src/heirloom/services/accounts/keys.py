"""API keys: several named keys per user, shown once, stored as SHA-256, revocable at once.

Every request looks its key up in the database (one indexed read, no per-process cache of
positive answers), so a revocation holds on every API process from the next request on.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from heirloom.db.engine import Database
from heirloom.db.models import ApiKey, Share, User, WebhookEndpoint, as_utc, utcnow
from heirloom.db.paging import Page, SortKey, keyset, page_of
from heirloom.domain.errors import Conflict, NotFound
from heirloom.domain.paging import Cursor

API_KEY_PREFIX = "hl_"
# What logs and key lists show of a key: "hl_" and 8 random characters.
VISIBLE_PREFIX_LENGTH = len(API_KEY_PREFIX) + 8


def hash_api_key(api_key: str) -> str:
    # Keys carry 256 random bits, so a fast unsalted hash is enough to make a leaked
    # table useless while keeping lookup a single indexed equality.
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class KeyInfo:
    """A key as its owner sees it: never the key itself, nor its hash."""

    id: str
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str | None
    created_by_key_id: str | None = None


@dataclass(frozen=True)
class Revoked:
    """What one revocation ended: the keys (the one named first), the share links, and
    whether the webhook a revoked key had set was removed."""

    key_ids: tuple[str, ...]
    share_ids: tuple[str, ...]
    webhook_removed: bool


@dataclass(frozen=True)
class NewKey:
    """A created key and its secret, which is never shown again."""

    info: KeyInfo
    api_key: str


@dataclass(frozen=True)
class Caller:
    """Who a request authenticated as: the user and which of their keys."""

    user: User
    key_id: str
    key_prefix: str


class ApiKeys:
    """Create, list, revoke and authenticate API keys."""

    def __init__(self, db: Database, *, max_per_user: int, touch_interval_s: int) -> None:
        self.db = db
        self.max_per_user = max_per_user
        self.touch_interval = timedelta(seconds=touch_interval_s)

    def add(
        self,
        session: Session,
        user_id: str,
        name: str,
        api_key: str | None = None,
        *,
        created_by_key_id: str | None = None,
    ) -> NewKey:
        """Add a key inside the caller's transaction (used when a user is created)."""
        api_key = api_key or new_api_key()
        row = ApiKey(
            id=uuid.uuid4().hex,
            user_id=user_id,
            name=name,
            prefix=api_key[:VISIBLE_PREFIX_LENGTH],
            key_hash=hash_api_key(api_key),
            created_by_key_id=created_by_key_id,
        )
        session.add(row)
        return NewKey(info=_info(row), api_key=api_key)

    def create(self, user_id: str, name: str, *, created_by_key_id: str | None = None) -> NewKey:
        """A new key for a user, within the per-user limit of keys in use; `created_by_key_id`
        is the key that asked for it (None: an admin or the account's creation)."""
        with self.db.session() as session:
            # Lock the user so two concurrent creations cannot both pass the count.
            user = session.exec(
                select(User).where(User.id == user_id).with_for_update()
            ).one_or_none()
            if user is None:
                raise NotFound("No such user.")
            in_use = session.exec(
                select(func.count()).where(
                    ApiKey.user_id == user_id, col(ApiKey.revoked_at).is_(None)
                )
            ).one()
            if in_use >= self.max_per_user:
                raise Conflict(
                    f"You already have {in_use} API keys; revoke one before creating another."
                )
            return self.add(session, user_id, name, created_by_key_id=created_by_key_id)

    def owned_by(self, user_id: str) -> list[KeyInfo]:
        """A user's keys, revoked ones included, newest first."""
        statement = (
            select(ApiKey)
            .where(ApiKey.user_id == user_id)
            .order_by(col(ApiKey.created_at).desc(), col(ApiKey.id))
        )
        with self.db.session() as session:
            return [_info(row) for row in session.exec(statement)]

    def page_owned_by(self, user_id: str, *, limit: int, after: Cursor | None) -> Page[KeyInfo]:
        """A page of a user's keys, revoked ones included, newest first (ties by id)."""
        order = SortKey(id=col(ApiKey.id), at=col(ApiKey.created_at))
        statement = keyset(select(ApiKey).where(ApiKey.user_id == user_id), order, after, limit)
        with self.db.session() as session:
            rows = [_info(row) for row in session.exec(statement)]
        return page_of(rows, limit, lambda info: Cursor(info.id, as_utc(info.created_at)))

    def revoke(self, key_id: str, *, user_id: str | None = None, reason: str = "revoked") -> None:
        """Revoke a key (only the owner's when `user_id` is given); repeating is harmless."""
        with self.db.session() as session:
            row = session.get(ApiKey, key_id)
            if row is None or (user_id is not None and row.user_id != user_id):
                raise NotFound("No such API key.")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                row.revoked_reason = reason[:200]
                session.add(row)

    def revoke_with_everything_it_created(
        self, key_id: str, *, user_id: str, reason: str = "revoked with what it created"
    ) -> Revoked:
        """Revoke a key of `user_id`'s, every key it created (and those keys' keys, at any
        depth), every share link those keys created, and the webhook if one of them last set
        it; in one transaction. Repeating it is harmless."""
        now = utcnow()
        with self.db.session() as session:
            # Lock the user: a key created by a revoked key concurrently is seen or refused.
            session.exec(select(User).where(User.id == user_id).with_for_update()).one_or_none()
            row = session.get(ApiKey, key_id)
            if row is None or row.user_id != user_id:
                raise NotFound("No such API key.")
            found = [key_id]
            frontier = [key_id]
            while frontier:
                children = session.exec(
                    select(ApiKey.id).where(
                        ApiKey.user_id == user_id, col(ApiKey.created_by_key_id).in_(frontier)
                    )
                ).all()
                frontier = [child for child in children if child not in found]
                found += frontier
            session.execute(
                sa.update(ApiKey)
                .where(col(ApiKey.id).in_(found), col(ApiKey.revoked_at).is_(None))
                .values(revoked_at=now, revoked_reason=reason[:200])
                .execution_options(synchronize_session=False)
            )
            shares = session.exec(
                select(Share.id).where(
                    Share.user_id == user_id,
                    col(Share.created_by_key_id).in_(found),
                    col(Share.revoked_at).is_(None),
                )
            ).all()
            if shares:
                session.execute(
                    sa.update(Share)
                    .where(col(Share.id).in_(shares))
                    .values(revoked_at=now)
                    .execution_options(synchronize_session=False)
                )
            removed = session.execute(
                sa.delete(WebhookEndpoint).where(
                    col(WebhookEndpoint.user_id) == user_id,
                    col(WebhookEndpoint.updated_by_key_id).in_(found),
                )
            )
            return Revoked(
                key_ids=tuple(found),
                share_ids=tuple(shares),
                webhook_removed=bool(getattr(removed, "rowcount", 0)),
            )

    def is_live(self, key_id: str) -> bool:
        """Whether a key exists and is not revoked (streams re-check their key with it)."""
        with self.db.session() as session:
            found = session.exec(
                select(ApiKey.id).where(ApiKey.id == key_id, col(ApiKey.revoked_at).is_(None))
            ).one_or_none()
            return found is not None

    def authenticate(self, api_key: str) -> Caller | None:
        """The caller behind a key in use, or None; refreshes last-used when it is stale."""
        now = utcnow()
        with self.db.session() as session:
            found = session.exec(
                _KEY_IN_USE, params={"key_hash": hash_api_key(api_key)}
            ).one_or_none()
            if found is None:
                return None
            key, user = found
            last = key.last_used_at
            if last is None or as_utc(last) < now - self.touch_interval:
                # At most one write per key per interval, not one per request.
                session.execute(
                    sa.update(ApiKey)
                    .where(col(ApiKey.id) == key.id)
                    .values(last_used_at=now)
                    .execution_options(synchronize_session=False)
                )
            return Caller(user=user, key_id=key.id, key_prefix=key.prefix)


# Every request's lookup, built once (building it cost as much as running it).
_KEY_IN_USE = (
    select(ApiKey, User)
    .join(User, col(User.id) == col(ApiKey.user_id))
    .where(col(ApiKey.key_hash) == sa.bindparam("key_hash"), col(ApiKey.revoked_at).is_(None))
)


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        prefix=row.prefix,
        created_at=as_utc(row.created_at),
        last_used_at=as_utc(row.last_used_at) if row.last_used_at else None,
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
        revoked_reason=row.revoked_reason,
        created_by_key_id=row.created_by_key_id,
    )
