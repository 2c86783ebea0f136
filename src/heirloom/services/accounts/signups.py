"""Self-serve sign-up: an email gets a single-use, expiring link; opening it creates a
free-tier account and its first API key, once.

Only the SHA-256 of a link's token is stored. The answer to a sign-up never says whether the
address already has an account: its owner gets an email saying so instead of a link.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from heirloom.db.engine import Database
from heirloom.db.models import Signup, User, as_utc, utcnow
from heirloom.domain.errors import LinkExpired, NotFound
from heirloom.domain.signup_rules import check_signup_email
from heirloom.domain.tiers import Tier
from heirloom.services.accounts.mail import Mailer
from heirloom.services.accounts.users import Accounts, NewAccount
from heirloom.services.money.credits import CreditManager

TOKEN_BYTES = 32
_USED = "This confirmation link was already used; the account it made exists."


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Signups:
    """Ask for a link by email, then confirm it."""

    def __init__(
        self,
        db: Database,
        accounts: Accounts,
        credits: CreditManager,
        mailer: Mailer,
        *,
        link_ttl_s: int,
        starting_credits: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.accounts = accounts
        self.credits = credits
        self.mailer = mailer
        self.link_ttl = timedelta(seconds=link_ttl_s)
        self.starting_credits = starting_credits
        self.clock = clock

    def request(self, email: str, confirm_url: Callable[[str], str]) -> None:
        """Email a confirmation link (or, for an address with an account, a note saying so)."""
        address = check_signup_email(email)
        if self.accounts.by_email(address) is not None:
            self.mailer.send(
                address,
                "Your Heirloom account",
                "Someone (maybe you) asked to sign up to Heirloom with this address, which "
                "already has an account. Nothing was changed. Your API keys are listed on your "
                "account page; an administrator can make you a new one.\n",
            )
            return
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self.clock()
        with self.db.session() as session:
            session.add(
                Signup(
                    id=uuid.uuid4().hex,
                    email=address,
                    token_hash=hash_token(token),
                    created_at=now,
                    expires_at=now + self.link_ttl,
                )
            )
        hours = self.link_ttl.total_seconds() / 3600
        self.mailer.send(
            address,
            "Confirm your Heirloom sign-up",
            "Open this link to create your Heirloom account and its first API key:\n\n"
            f"{confirm_url(token)}\n\n"
            f"The link works once, within {hours:g} hours. If you did not ask for it, ignore "
            "this email.\n",
        )

    def confirm(self, token: str) -> NewAccount:
        """Create the account of a link once; a used or expired link is LinkExpired (410), one
        never sent is NotFound."""
        now = self.clock()
        with self.db.session() as session:
            signup = session.exec(
                select(Signup).where(Signup.token_hash == hash_token(token)).with_for_update()
            ).one_or_none()
            if signup is None:
                raise NotFound("This confirmation link is not valid. Sign up again for a new one.")
            if signup.used_at is not None:
                raise LinkExpired(_USED)
            if as_utc(signup.expires_at) <= now:
                raise LinkExpired()
            # The conditional UPDATE is the once: a second confirmation finds it used.
            claimed = session.execute(
                sa.update(Signup)
                .where(col(Signup.id) == signup.id, col(Signup.used_at).is_(None))
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                raise LinkExpired(_USED)
            user, api_key = self.accounts.insert(session, email=signup.email, tier=Tier.FREE)
            signup.user_id = user.id
            session.add(signup)
        if self.starting_credits:
            self.credits.grant(
                user.id, self.starting_credits, "starting credits", f"signup:{user.id}"
            )
        with self.db.session() as session:
            fresh = session.get(User, user.id)
            assert fresh is not None
        return NewAccount(user=fresh, api_key=api_key)
