"""An album's charge: every photo's job charged and created in one transaction, or none.

Each photo is a job with its own ledger row (`reserve`, keyed by its job id, as a single job's
charge: services/money/credits.py), so each photo is refunded or kept on its own. The balance
moves once, by the album's total, in one conditional statement that cannot overdraw; a refused
album writes nothing and says how many credits are missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from heirloom.db.engine import Database
from heirloom.db.models import Album, CreditEntry, Job, JobEvent, User, utcnow
from heirloom.domain.errors import (
    AlbumCreditsShort,
    DailyLimitReached,
    NotFound,
    OutstandingDebt,
    Unauthorized,
)
from heirloom.domain.jobs import JobStatus, Stage, operations_label, parse_operations
from heirloom.domain.pricing import Prices, next_daily_reset
from heirloom.domain.tiers import Tier, TierRules
from heirloom.services.events import event_log as events
from heirloom.services.money.credits import RESERVE, CreditManager
from heirloom.services.privacy.erasure import ROLE_ERASED


@dataclass(frozen=True)
class NewAlbum:
    """What the charge needs: the album, its photos' job ids and stored originals."""

    album_id: str
    user_id: str
    tier: Tier
    operations: str
    photos: list[tuple[str, str]]  # (job id, original key)
    gpu_priority: int = 3


@dataclass(frozen=True)
class AlbumCharge:
    """A made charge: the album's total and the balance after it."""

    album_id: str
    cost: int
    balance: int
    first_event_id: int


def album_cost(prices: Prices, operations: str, photos: int) -> int:
    """Every photo at a single job's price for the operations."""
    return prices.cost(parse_operations(operations)) * photos


class AlbumCharges:
    """Charges albums over the same ledger as single jobs."""

    def __init__(
        self,
        db: Database,
        credits: CreditManager,
        prices: Prices,
        tier_rules: dict[Tier, TierRules],
    ) -> None:
        self.db = db
        self.credits = credits
        self.prices = prices
        self.tier_rules = tier_rules

    def check(self, user_id: str, operations: str, photos: int) -> int:
        """The API's fast pre-check (the charge decides again under the lock): the album's
        cost, or AlbumCreditsShort / DailyLimitReached with nothing written."""
        cost = album_cost(self.prices, operations, photos)
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound("No such user.")
            self._within_limits(session, user, photos, cost, utcnow())
        return cost

    def reserve(self, album: NewAlbum) -> AlbumCharge:
        """Charge every photo and create the album and its jobs, atomically; a repeat returns
        the first charge. Raises AlbumCreditsShort or DailyLimitReached with nothing written."""
        now = utcnow()
        label = operations_label(parse_operations(album.operations))
        price = self.prices.cost(parse_operations(album.operations))
        cost = price * len(album.photos)
        with self.db.session() as session:
            existing = session.get(Album, album.album_id)
            if existing is not None:
                return self._charged(session, existing)
            charged = session.execute(
                sa.update(User)
                .where(col(User.id) == album.user_id, col(User.balance) >= cost)
                .values(balance=User.balance - cost)
                .returning(col(User.balance), col(User.role))
                .execution_options(synchronize_session=False)
            ).one_or_none()
            if charged is None or charged[1] == ROLE_ERASED:
                session.rollback()
                user = session.get(User, album.user_id)
                if user is None:
                    raise NotFound("No such user.")
                if user.role == ROLE_ERASED:
                    raise Unauthorized("This account is closed.")
                raise AlbumCreditsShort(cost=cost, balance=user.balance, photos=len(album.photos))
            user = session.get(User, album.user_id)
            assert user is not None
            # The same rule as the pre-check, decided under the lock (the balance before).
            self._within_limits(session, user, len(album.photos), 0, now)
            first_event_id = int(
                session.execute(
                    sa.select(sa.func.coalesce(sa.func.max(JobEvent.id), 0))
                ).scalar_one()
            )
            session.add(
                Album(
                    id=album.album_id,
                    user_id=album.user_id,
                    operations=label,
                    tier=album.tier.value,
                    photos=len(album.photos),
                    cost=cost,
                    first_event_id=first_event_id,
                    created_at=now,
                )
            )
            for job_id, original_key in album.photos:
                session.add(
                    CreditEntry(
                        user_id=album.user_id,
                        job_id=job_id,
                        kind=RESERVE,
                        amount=-price,
                        reason=f"job {job_id}: {label} (album {album.album_id})",
                        idempotency_key=f"{RESERVE}:{job_id}",
                        created_at=now,
                    )
                )
                session.add(
                    Job(
                        id=job_id,
                        user_id=album.user_id,
                        operations=label,
                        tier=album.tier.value,
                        status=JobStatus.QUEUED.value,
                        stage=Stage.QUEUED.value,
                        cost=price,
                        original_key=original_key,
                        gpu_priority=album.gpu_priority,
                        album_id=album.album_id,
                        created_at=now,
                        updated_at=now,
                        # Its insert appends the job.queued event (Job.last_event).
                        last_event=events.QUEUED,
                    )
                )
            try:
                session.flush()
            except IntegrityError:
                # A concurrent repeat of this charge won; leaving the block undoes this one.
                session.rollback()
                winner = session.get(Album, album.album_id)
                if winner is None:
                    raise
                return self._charged(session, winner)
            return AlbumCharge(album.album_id, cost, int(charged[0]), first_event_id)

    def _within_limits(
        self, session: Session, user: User, photos: int, cost: int, now: datetime
    ) -> None:
        """Enough credits (unless `cost` is 0: already charged) and the tier's daily jobs:
        every photo counts as a job of the day. Credits owed after a refunded or disputed
        purchase block an album as they block a job."""
        if user.debt > 0:
            raise OutstandingDebt(debt=user.debt)
        if cost and user.balance < cost:
            raise AlbumCreditsShort(cost=cost, balance=user.balance, photos=photos)
        rules = self.tier_rules[Tier(user.tier)]
        if rules.daily_job_limit is not None:
            today = self.credits.jobs_today(session, user.id, now)
            if today + photos > rules.daily_job_limit:
                raise DailyLimitReached(
                    limit=rules.daily_job_limit, resets_at=next_daily_reset(now)
                )

    @staticmethod
    def _charged(session: Session, album: Album) -> AlbumCharge:
        balance = session.execute(
            select(User.balance).where(col(User.id) == album.user_id)
        ).scalar_one()
        return AlbumCharge(album.id, album.cost, int(balance), album.first_event_id)
