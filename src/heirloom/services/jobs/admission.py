"""What a submission is checked against before its upload is stored or charged, in one read.

The job an Idempotency-Key already names, the user's balance and debt, the job counts the tier
caps, the files kept against the quota, and whether any stop or budget could pause the tier
come from one statement; the rules that judge them are the reservation's (domain/pricing.py
quote_job), the quota's (retention.check_usage) and the budgets' (Budgets.admit, run only when
a stop or a budget exists). The reservation decides again under its lock: this read is the fast
refusal.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlmodel import col

from heirloom.db.engine import Database
from heirloom.db.models import Budget, Job, ServiceControl, User
from heirloom.domain.errors import NotFound
from heirloom.domain.jobs import Operation
from heirloom.domain.pricing import JobQuote, day_start, quote_job
from heirloom.domain.tiers import Tier
from heirloom.services.money.budgets import ALL, Budgets
from heirloom.services.money.credits import CreditManager, active_jobs_count, jobs_today_count
from heirloom.services.results.retention import Retention, StorageUsage, check_usage, holding


@dataclass(frozen=True)
class Standing:
    """A user as a new submission finds them, read at `now`."""

    tier: Tier
    now: datetime
    balance: int
    debt: int
    jobs_today: int
    active_jobs: int
    usage: StorageUsage
    # The job the submission's Idempotency-Key already names (None: none, or no key).
    existing: Job | None


class Admission:
    """Reads a submitter's standing in one statement and judges a submission against it."""

    def __init__(
        self, db: Database, credits: CreditManager, retention: Retention, budgets: Budgets
    ) -> None:
        self.db = db
        self.credits = credits
        self.retention = retention
        self.budgets = budgets

    def standing(self, user_id: str, tier: Tier, idempotency_key: str | None) -> Standing:
        """The user's standing; each count is read only when the tier caps it (NotFound for
        an unknown user). ServicePaused first when the tier takes no submissions now."""
        now = self.credits.clock()
        rules = self.credits.tier_rules[tier]
        statement = _standing_statement(
            today=rules.daily_job_limit is not None,
            active=rules.max_active_jobs is not None,
            kept=rules.storage_quota_bytes is not None or rules.storage_quota_results is not None,
            keyed=idempotency_key is not None,
        )
        parameters = {
            "user_id": user_id,
            "since": day_start(now),
            "key": idempotency_key,
            "scopes": [ALL, tier.value],
        }
        with self.db.session() as session:
            row = session.execute(statement, parameters).one_or_none()
        if row is None:
            raise NotFound("No such user.")
        if row.controls or self.budgets.has_defaults:
            self.budgets.admit(tier)
        return Standing(
            tier=tier,
            now=now,
            balance=int(row[0]),
            debt=int(row[1]),
            jobs_today=int(row[2]),
            active_jobs=int(row[3]),
            usage=self.retention.usage_of(tier, int(row[4]), int(row[5])),
            existing=row[7] if idempotency_key is not None else None,
        )

    def check(
        self,
        standing: Standing,
        operations: tuple[Operation, ...],
        *,
        candidates: int,
        incoming_bytes: int,
    ) -> JobQuote:
        """The job's quote; raises the refusal the reservation would (credits, limits), then
        StorageQuotaExceeded when the upload would go over the quota."""
        quote = quote_job(
            operations=operations,
            tier=standing.tier,
            balance=standing.balance,
            jobs_today=standing.jobs_today,
            prices=self.credits.prices,
            tier_rules=self.credits.tier_rules,
            now=standing.now,
            active_jobs=standing.active_jobs,
            debt=standing.debt,
            candidates=candidates,
        )
        check_usage(standing.usage, incoming_bytes)
        return quote


@functools.cache
def _standing_statement(*, today: bool, active: bool, kept: bool, keyed: bool) -> sa.Select[Any]:
    """The one read of `Admission.standing`, built once per shape: balance, debt, the counts
    the tier caps (0 where it does not), the stops and budgets that could pause the tier, and
    the job the key names (only with a key). Parameters: user_id, since (the day's start), key
    and scopes (`all` and the tier)."""
    user_id = sa.bindparam("user_id", type_=sa.String)
    zero = sa.literal(0)
    usage = holding(user_id).subquery()
    source: Any = orm.join(User, usage, sa.true()) if kept else User
    columns: list[Any] = [
        col(User.balance),
        col(User.debt),
        jobs_today_count(
            user_id, sa.bindparam("since", type_=sa.DateTime(timezone=True))
        ).scalar_subquery()
        if today
        else zero,
        active_jobs_count(user_id).scalar_subquery() if active else zero,
        usage.c.bytes_used if kept else zero,
        usage.c.results_kept if kept else zero,
        (
            sa.select(sa.func.count())
            .where(col(ServiceControl.scope).in_(sa.bindparam("scopes", expanding=True)))
            .scalar_subquery()
            + sa.select(sa.func.count()).select_from(Budget).scalar_subquery()
        ).label("controls"),
    ]
    if keyed:
        named = sa.and_(
            col(Job.user_id) == col(User.id), col(Job.idempotency_key) == sa.bindparam("key")
        )
        source = orm.outerjoin(source, Job, named)
        columns.append(Job)
    return sa.select(*columns).select_from(source).where(col(User.id) == user_id)
