"""Users: create them (with a first API key), find them, change their tier."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from heirloom.db.engine import Database
from heirloom.db.models import Job, TierChange, User, as_utc
from heirloom.db.paging import Page, SortKey, keyset, page_of
from heirloom.domain.errors import Conflict, NotFound
from heirloom.domain.paging import Cursor
from heirloom.domain.tiers import Tier
from heirloom.services.accounts.keys import ApiKeys
from heirloom.services.money.credits import CreditManager

ROLE_USER = "user"
ROLE_ADMIN = "admin"
FIRST_KEY_NAME = "default"


@dataclass(frozen=True)
class NewAccount:
    """A created user and its API key, which is never shown again."""

    user: User
    api_key: str


@dataclass(frozen=True)
class UserSummary:
    """A user as an operator lists them: the account and how many jobs it ever submitted."""

    user: User
    jobs: int


class Accounts:
    """Create users, find them, change their tier."""

    def __init__(self, db: Database, credits: CreditManager, keys: ApiKeys) -> None:
        self.db = db
        self.credits = credits
        self.keys = keys

    def create(
        self,
        *,
        email: str,
        tier: Tier,
        credits: int = 0,
        role: str = ROLE_USER,
        api_key: str | None = None,
    ) -> NewAccount:
        """Create a user with a first API key; starting credits are a ledger grant."""
        with self.db.session() as session:
            user, api_key = self.insert(session, email=email, tier=tier, role=role, api_key=api_key)
        if credits:
            self.credits.grant(user.id, credits, "starting credits", f"signup:{user.id}")
            user.balance = credits
        return NewAccount(user=user, api_key=api_key)

    def insert(
        self,
        session: Session,
        *,
        email: str,
        tier: Tier,
        role: str = ROLE_USER,
        api_key: str | None = None,
    ) -> tuple[User, str]:
        """The user row and its first key, in the caller's transaction; Conflict when the email
        has an account (the transaction is then rolled back)."""
        user = User(
            id=uuid.uuid4().hex, email=email.strip().lower(), tier=tier.value, role=role, balance=0
        )
        try:
            session.add(user)
            session.flush()
            return user, self.keys.add(session, user.id, FIRST_KEY_NAME, api_key).api_key
        except IntegrityError:
            session.rollback()
            raise Conflict(f"A user with email {user.email} already exists.") from None

    def get(self, user_id: str) -> User:
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound("No such user.")
            return user

    def all(self) -> list[User]:
        """Every user, oldest first (for operators; the API has no listing)."""
        with self.db.session() as session:
            statement = select(User).order_by(col(User.created_at), col(User.id))
            return list(session.exec(statement).all())

    def page(
        self, *, limit: int, offset: int = 0, email_contains: str | None = None
    ) -> list[UserSummary]:
        """Users newest first, each with its job count; optionally those whose email matches."""
        newest_first = (col(User.created_at).desc(), col(User.id))
        statement = self._summaries(email_contains).order_by(*newest_first)
        with self.db.session() as session:
            rows = session.exec(statement.offset(offset).limit(limit))
            return [UserSummary(user, count) for user, count in rows]

    def page_after(
        self, *, limit: int, after: Cursor | None, email_contains: str | None = None
    ) -> Page[UserSummary]:
        """The same list by cursor: newest first, ties by id, starting after `after`."""
        order = SortKey(id=col(User.id), at=col(User.created_at))
        statement = keyset(self._summaries(email_contains), order, after, limit)
        with self.db.session() as session:
            rows = [UserSummary(user, count) for user, count in session.exec(statement)]
        return page_of(rows, limit, lambda row: Cursor(row.user.id, as_utc(row.user.created_at)))

    def _summaries(self, email_contains: str | None) -> Any:
        jobs = select(Job.user_id, func.count().label("jobs")).group_by(col(Job.user_id)).subquery()
        statement = select(User, func.coalesce(jobs.c.jobs, 0)).outerjoin(
            jobs, jobs.c.user_id == User.id
        )
        if email_contains:
            needle = email_contains.strip().lower()
            statement = statement.where(col(User.email).contains(needle, autoescape=True))
        return statement

    def by_email(self, email: str) -> User | None:
        with self.db.session() as session:
            return session.exec(select(User).where(User.email == email.lower())).one_or_none()

    def set_tier(
        self,
        user_id: str,
        tier: Tier,
        *,
        by_user_id: str | None = None,
        by_key_id: str | None = None,
    ) -> User:
        """Change a user's tier, recording the change and the admin (and key) who made it."""
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound("No such user.")
            if user.tier != tier.value:
                session.add(
                    TierChange(
                        user_id=user_id,
                        from_tier=user.tier,
                        to_tier=tier.value,
                        changed_by_user_id=by_user_id,
                        changed_by_key_id=by_key_id,
                    )
                )
            user.tier = tier.value
            session.add(user)
            return user

    def tier_changes(self, user_id: str) -> list[TierChange]:
        """A user's tier changes, oldest first."""
        statement = (
            select(TierChange).where(TierChange.user_id == user_id).order_by(col(TierChange.id))
        )
        with self.db.session() as session:
            return list(session.exec(statement))

    def ensure(self, *, email: str, tier: Tier, credits: int, role: str, api_key: str) -> User:
        """Create the user with this key unless it exists (used to seed dev accounts)."""
        existing = self.by_email(email)
        if existing is not None:
            return existing
        return self.create(email=email, tier=tier, credits=credits, role=role, api_key=api_key).user
