"""GPU budgets and the controls on new submissions: budget pauses, emergency stop and resume.

A budget pause or a stop only refuses new submissions; jobs already charged run to their end.
A resume lifts the budget pauses in force when it is given, until their period ends (a day's
pause comes back the next day if that day's budget is crossed again); a budget crossed after
the resume pauses again. Every control is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from heirloom.db.engine import Database
from heirloom.db.models import AdminAudit, Budget, ServiceControl, as_utc, utcnow
from heirloom.db.paging import Page, SortKey, keyset, page_of
from heirloom.domain.errors import InvalidRequest, ServicePaused
from heirloom.domain.paging import Cursor
from heirloom.domain.tiers import Tier
from heirloom.services.money.costs import CostLedger, Period, period_start

ALL = "all"
SCOPES = (ALL, *(tier.value for tier in Tier))
PERIODS: tuple[Period, ...] = ("day", "month")


@dataclass(frozen=True)
class BudgetState:
    """One period's budget and what has been spent of it."""

    period: Period
    amount_usd: float | None
    spent_usd: float
    since: datetime

    @property
    def used_pct(self) -> float | None:
        return self.spent_usd / self.amount_usd * 100 if self.amount_usd else None


@dataclass(frozen=True)
class Control:
    scope: str
    paused: bool
    overrides: list[str]
    reason: str | None
    updated_by: str | None
    updated_at: datetime


@dataclass(frozen=True)
class AuditLine:
    actor_id: str
    action: str
    scope: str
    detail: str | None
    created_at: datetime
    id: int = 0


class Budgets:
    """Budgets from settings or an admin, spend from the cost ledger, controls from admins."""

    def __init__(
        self,
        db: Database,
        costs: CostLedger,
        *,
        daily_usd: float | None,
        monthly_usd: float | None,
        free_pause_pct: int,
    ) -> None:
        self.db = db
        self.costs = costs
        self.defaults: dict[Period, float | None] = {"day": daily_usd, "month": monthly_usd}
        self.free_pause_pct = free_pause_pct

    def states(
        self, now: datetime | None = None, *, budgeted_only: bool = False
    ) -> list[BudgetState]:
        """Each period's budget and spend (only the periods with a budget when asked: the
        submission path then reads no spend at all while no budget is set)."""
        with self.db.session() as session:
            stored = _stored(session)
        return self._states(now or utcnow(), stored, budgeted_only=budgeted_only)

    def _states(
        self, now: datetime, stored: dict[str, float | None], *, budgeted_only: bool
    ) -> list[BudgetState]:
        states = []
        for period in PERIODS:
            since = period_start(now, period)
            amount = stored[period] if period in stored else self.defaults[period]
            if amount is None and budgeted_only:
                continue
            states.append(BudgetState(period, amount, self.costs.gpu_spend_usd(since), since))
        return states

    def set_budget(self, actor_id: str, period: Period, amount_usd: float | None) -> None:
        """Replace a period's budget (None: no budget), audited."""
        if period not in PERIODS:
            raise InvalidRequest(f"Unknown budget period {period!r}: use day or month.")
        with self.db.session() as session:
            row = session.get(Budget, period) or Budget(period=period)
            row.amount_usd = amount_usd
            row.updated_at = utcnow()
            session.add(row)
            session.add(
                AdminAudit(
                    actor_id=actor_id,
                    action="set_budget",
                    scope=period,
                    detail="none" if amount_usd is None else f"{amount_usd:.2f} USD",
                )
            )

    def controls(self) -> list[Control]:
        with self.db.session() as session:
            return _controls(session)

    def stop(self, actor_id: str, scope: str, reason: str | None) -> None:
        """Emergency stop: refuse new submissions for a tier or for all."""
        self._set_control(actor_id, scope, paused=True, reason=reason)

    def resume(self, actor_id: str, scope: str, reason: str | None) -> None:
        """Take new submissions again, lifting the budget pauses in force for this scope now."""
        tier = Tier.FREE if scope in (ALL, Tier.FREE.value) else Tier(scope)
        with self.db.session() as session:
            stored = _stored(session)
        lifted = [_period_key(s) for s in self._budget_pauses(tier, utcnow(), stored)]
        self._set_control(actor_id, scope, paused=False, reason=reason, overrides=lifted)

    def _set_control(
        self,
        actor_id: str,
        scope: str,
        *,
        paused: bool,
        reason: str | None,
        overrides: list[str] | None = None,
    ) -> None:
        if scope not in SCOPES:
            raise InvalidRequest(f"Unknown scope {scope!r}: use {', '.join(SCOPES)}.")
        with self.db.session() as session:
            row = session.get(ServiceControl, scope) or ServiceControl(scope=scope)
            row.paused, row.reason, row.updated_by = paused, reason, actor_id
            row.overrides = ",".join(overrides) if overrides else None
            row.updated_at = utcnow()
            session.add(row)
            session.add(
                AdminAudit(
                    actor_id=actor_id,
                    action="stop" if paused else "resume",
                    scope=scope,
                    detail=reason,
                )
            )

    def audit(self, limit: int = 100, after: Cursor | None = None) -> Page[AuditLine]:
        """Admin control actions newest first, a page at a time from `after`."""
        order = SortKey(id=col(AdminAudit.id))
        with self.db.session() as session:
            rows = list(session.exec(keyset(select(AdminAudit), order, after, limit)))
        lines = [
            AuditLine(r.actor_id, r.action, r.scope, r.detail, as_utc(r.created_at), id=r.id or 0)
            for r in rows
        ]
        return page_of(lines, limit, lambda line: Cursor(line.id))

    def pause_reason(self, tier: Tier, now: datetime | None = None) -> str | None:
        """Why new `tier` submissions are refused now, or None when they are taken."""
        now = now or utcnow()
        # One session for both tables: every submission asks.
        with self.db.session() as session:
            controls = {c.scope: c for c in _controls(session)}
            stored = _stored(session)
        scoped = [c for c in (controls.get(ALL), controls.get(tier.value)) if c is not None]
        for control in scoped:
            if control.paused:
                return f"stopped by an operator ({control.scope})"
        lifted = {key for control in scoped for key in control.overrides}
        for state in self._budget_pauses(tier, now, stored):
            if _period_key(state) not in lifted:
                return f"{state.period} GPU budget {state.used_pct:.0f}% used"
        return None

    def _budget_pauses(
        self, tier: Tier, now: datetime, stored: dict[str, float | None]
    ) -> list[BudgetState]:
        """The budgets (of those `stored`) whose use pauses `tier`: the free pause share, or
        100% for the rest."""
        limit = float(self.free_pause_pct) if tier is Tier.FREE else 100.0
        states = self._states(now, stored, budgeted_only=True)
        return [s for s in states if s.used_pct is not None and s.used_pct >= limit]

    @property
    def has_defaults(self) -> bool:
        """Whether the settings set a budget: then every submission's check reads the spend,
        even with no budget row stored."""
        return any(amount is not None for amount in self.defaults.values())

    def admit(self, tier: Tier) -> None:
        """Raise ServicePaused when new `tier` submissions are refused."""
        if self.pause_reason(tier) is not None:
            raise ServicePaused()


def _stored(session: Session) -> dict[str, float | None]:
    """The budgets an admin set, by period."""
    return {row.period: row.amount_usd for row in session.exec(select(Budget))}


def _controls(session: Session) -> list[Control]:
    rows = session.exec(select(ServiceControl).order_by(col(ServiceControl.scope)))
    return [
        Control(
            r.scope,
            r.paused,
            (r.overrides or "").split(",") if r.overrides else [],
            r.reason,
            r.updated_by,
            as_utc(r.updated_at),
        )
        for r in rows
    ]


def _period_key(state: BudgetState) -> str:
    return f"{state.period}:{state.since.date().isoformat()}"
