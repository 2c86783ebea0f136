"""Users and their API keys. Keys are random and shown once; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from heirloom.db.engine import Database
from heirloom.db.models import User
from heirloom.domain.errors import Conflict, NotFound
from heirloom.domain.tiers import Tier
from heirloom.services.credits import CreditManager

API_KEY_PREFIX = "hl_"
ROLE_USER = "user"
ROLE_ADMIN = "admin"


def hash_api_key(api_key: str) -> str:
    # Keys carry 256 random bits, so a fast unsalted hash is enough to make a leaked
    # table useless while keeping lookup a single indexed equality.
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class NewAccount:
    """A created user and its API key, which is never shown again."""

    user: User
    api_key: str


class Accounts:
    """Create users, find them by API key, change their tier."""

    def __init__(self, db: Database, credits: CreditManager) -> None:
        self.db = db
        self.credits = credits

    def create(
        self,
        *,
        email: str,
        tier: Tier,
        credits: int = 0,
        role: str = ROLE_USER,
        api_key: str | None = None,
    ) -> NewAccount:
        """Create a user; starting credits are a ledger grant like any other."""
        api_key = api_key or new_api_key()
        user = User(
            id=uuid.uuid4().hex,
            email=email.strip().lower(),
            tier=tier.value,
            role=role,
            balance=0,
            api_key_hash=hash_api_key(api_key),
        )
        try:
            with self.db.session() as session:
                session.add(user)
        except IntegrityError:
            raise Conflict(f"A user with email {user.email} already exists.") from None
        if credits:
            self.credits.grant(user.id, credits, "starting credits", f"signup:{user.id}")
            user.balance = credits
        return NewAccount(user=user, api_key=api_key)

    def authenticate(self, api_key: str) -> User | None:
        with self.db.session() as session:
            return session.exec(
                select(User).where(User.api_key_hash == hash_api_key(api_key))
            ).one_or_none()

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

    def by_email(self, email: str) -> User | None:
        with self.db.session() as session:
            return session.exec(select(User).where(User.email == email.lower())).one_or_none()

    def set_tier(self, user_id: str, tier: Tier) -> User:
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound("No such user.")
            user.tier = tier.value
            session.add(user)
            return user

    def ensure(self, *, email: str, tier: Tier, credits: int, role: str, api_key: str) -> User:
        """Create the user with this key unless it exists (used to seed dev accounts)."""
        existing = self.by_email(email)
        if existing is not None:
            return existing
        return self.create(email=email, tier=tier, credits=credits, role=role, api_key=api_key).user
