"""Alerts: gather a snapshot, run the rules, keep one open incident per key, deliver notices.

The database keeps the dedup: an open alert holds its key in the unique `open_key`, so two
evaluations that race open one incident. A key no longer found resolves its incident.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import col, select

from heirloom.config import Settings
from heirloom.db.engine import Database
from heirloom.db.models import Alert, Job, as_utc, utcnow
from heirloom.db.paging import Page, SortKey, keyset, page_of
from heirloom.domain.alerts import (
    AlertLimits,
    AlertNotice,
    BudgetUse,
    Finding,
    RunPodHealth,
    Snapshot,
)
from heirloom.domain.costs import percentile
from heirloom.domain.paging import Cursor
from heirloom.domain.tiers import Tier
from heirloom.services.money.budgets import Budgets
from heirloom.services.queue.task_queues import TaskQueueReader
from heirloom.services.runpod.client import RunPodService

log = logging.getLogger(__name__)

FIRING = "firing"
RESOLVED = "resolved"


class Watched(Protocol):
    """What the alert rules read (the process's Services)."""

    settings: Settings
    db: Database
    budgets: Budgets
    runpod: RunPodService


@dataclass(frozen=True)
class AlertOut:
    """One alert incident: opened, and resolved once its condition cleared."""

    id: int
    key: str
    severity: str
    message: str
    opened_at: datetime
    resolved_at: datetime | None


class AlertBook:
    """The alerts table: opens, continues and resolves incidents."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def apply(self, findings: list[Finding]) -> list[AlertNotice]:
        """Open an incident per new key, resolve each open one no longer found."""
        notices: list[AlertNotice] = []
        keys = {f.key for f in findings}
        with self.db.session() as session:
            open_alerts = {
                a.key: a
                for a in session.exec(select(Alert).where(col(Alert.open_key).is_not(None)))
            }
            for alert in open_alerts.values():
                if alert.key not in keys:
                    alert.open_key, alert.resolved_at = None, utcnow()
                    session.add(alert)
                    notices.append(_notice(alert, RESOLVED))
            session.commit()
        for finding in findings:
            if finding.key in open_alerts:
                continue
            with self.db.session() as session:
                alert = Alert(
                    key=finding.key,
                    open_key=finding.key,
                    severity=finding.severity,
                    message=finding.message,
                )
                session.add(alert)
                try:
                    session.commit()
                except IntegrityError:  # another evaluation opened it first
                    session.rollback()
                    continue
                notices.append(_notice(alert, FIRING))
        return notices

    def recent(
        self, *, open_only: bool = False, limit: int = 100, after: Cursor | None = None
    ) -> Page[AlertOut]:
        """Incidents newest first, a page at a time from `after`."""
        query = select(Alert)
        if open_only:
            query = query.where(col(Alert.open_key).is_not(None))
        with self.db.session() as session:
            rows = list(session.exec(keyset(query, SortKey(id=col(Alert.id)), after, limit)))
        incidents = [
            AlertOut(
                id=r.id or 0,
                key=r.key,
                severity=r.severity,
                message=r.message,
                opened_at=as_utc(r.opened_at),
                resolved_at=as_utc(r.resolved_at) if r.resolved_at else None,
            )
            for r in rows
        ]
        return page_of(incidents, limit, lambda incident: Cursor(incident.id))


def _notice(alert: Alert, state: str) -> AlertNotice:
    return AlertNotice(
        alert_id=alert.id or 0,
        key=alert.key,
        severity=alert.severity,
        message=alert.message,
        state=state,
    )


def limits_from(services: Watched) -> AlertLimits:
    settings = services.settings
    return AlertLimits(
        failure_rate=settings.alert_failure_rate,
        failure_min_jobs=settings.alert_failure_min_jobs,
        queue_wait_p95_s=settings.alert_queue_wait_p95_s,
        window_s=settings.alert_window_s,
    )


def job_window(services: Watched, since: datetime) -> tuple[int, int, float | None]:
    """Jobs ended since `since`: (ended, failed), and the p95 queue wait of jobs started since."""
    with services.db.session() as session:
        ended = list(
            session.exec(
                select(Job.status).where(
                    col(Job.finished_at) >= since,
                    col(Job.status).in_(("completed", "failed", "cancelled")),
                )
            )
        )
        started = list(
            session.exec(select(Job.created_at, Job.started_at).where(col(Job.started_at) >= since))
        )
    waits = [(as_utc(s) - as_utc(c)).total_seconds() for c, s in started if s is not None]
    return len(ended), sum(1 for s in ended if s == "failed"), percentile(waits, 95)


async def gather_snapshot(
    services: Watched, temporal: TaskQueueReader, previous_in_queue: int | None, window_s: int
) -> Snapshot:
    """Read budgets, recent jobs, RunPod's health and the task queues' pollers."""
    settings = services.settings
    try:
        states = await asyncio.to_thread(services.budgets.states)
        since = utcnow() - timedelta(seconds=window_s)
        ended, failed, wait_p95 = await asyncio.to_thread(job_window, services, since)
    except SQLAlchemyError as err:
        log.warning("alert evaluation: database error", exc_info=True)
        return Snapshot(
            budgets=[],
            thresholds_pct=settings.budget_alert_thresholds_pct,
            ended_jobs=0,
            failed_jobs=0,
            queue_waits_p95_s=None,
            tiers_without_worker=[],
            runpod=RunPodHealth(reachable=True),
            runpod_previous_in_queue=None,
            database_error=type(err).__name__,
        )
    return Snapshot(
        budgets=[BudgetUse(s.period, s.used_pct) for s in states if s.used_pct is not None],
        thresholds_pct=settings.budget_alert_thresholds_pct,
        ended_jobs=ended,
        failed_jobs=failed,
        queue_waits_p95_s=wait_p95,
        tiers_without_worker=[
            tier.value for tier in Tier if not await temporal.has_pollers(tier.task_queue)
        ],
        runpod=await asyncio.to_thread(runpod_health, services),
        runpod_previous_in_queue=previous_in_queue,
    )


def runpod_health(services: Watched) -> RunPodHealth:
    try:
        answer = services.runpod.health()
    except Exception:
        log.warning("alert evaluation: RunPod /health failed", exc_info=True)
        return RunPodHealth(reachable=False)
    workers: dict[str, Any] = answer.get("workers") or {}
    jobs: dict[str, Any] = answer.get("jobs") or {}
    return RunPodHealth(
        reachable=True,
        idle_workers=int(workers.get("idle", 0)),
        in_queue=int(jobs.get("inQueue", 0)),
    )


def deliver(notice: AlertNotice, webhook_url: str | None, timeout_s: float = 10.0) -> None:
    """Log the notice and post it to the webhook as Slack-compatible JSON (`text`)."""
    icon = ":rotating_light:" if notice.state == FIRING else ":white_check_mark:"
    text = f"{icon} [{notice.severity}] {notice.state}: {notice.message} ({notice.key})"
    level = logging.WARNING if notice.state == FIRING else logging.INFO
    log.log(level, "alert %s %s: %s", notice.key, notice.state, notice.message)
    if webhook_url:
        response = httpx.post(webhook_url, json={"text": text}, timeout=timeout_s)
        response.raise_for_status()
