"""Budgets and emergency controls on the running stack: the free tier pauses at its threshold
with nothing charged, paid goes on, resume restores free, and every control is audited."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.client import Client

from heirloom.domain.alerts import AlertsInput, AlertsReport
from heirloom.domain.task_queues import OPS_TASK_QUEUE
from heirloom.domain.tiers import Tier
from heirloom.workflows.alerts import AlertsWorkflow
from tests.conftest import Stack
from tests.support import balance, photo_bytes, submit, wait_final


@pytest.fixture
def controlled(stack: Stack) -> Iterator[Stack]:
    """The stack; budgets removed and every scope resumed afterwards, for the tests after."""
    yield stack
    with stack.client(stack.admin_key) as admin:
        admin.put("/v1/admin/budgets/day", json={"amount_usd": None})
        admin.put("/v1/admin/budgets/month", json={"amount_usd": None})
        for scope in ("all", "free", "paid", "forever"):
            admin.post(f"/v1/admin/controls/{scope}/resume", json={"reason": "test cleanup"})
    run_alerts(stack)  # resolves the budget incident the test opened


def run_alerts(stack: Stack) -> AlertsReport:
    """One pass of the scheduled alerts workflow, run now on the ops queue."""

    async def once() -> AlertsReport:
        client = await Client.connect(
            stack.settings.temporal_address, namespace=stack.settings.temporal_namespace
        )
        return await client.execute_workflow(
            AlertsWorkflow.run,
            AlertsInput(window_s=stack.settings.alert_window_s),
            id=f"alerts-test-{id(stack)}-{asyncio.get_running_loop().time()}",
            task_queue=OPS_TASK_QUEUE,
        )

    return asyncio.run(once())


def budgets(stack: Stack) -> dict[str, Any]:
    with stack.client(stack.admin_key) as admin:
        body: dict[str, Any] = admin.get("/v1/admin/budgets").json()
    return body


def set_day_budget_used(stack: Stack, pct: float) -> None:
    """Set today's budget so that what was spent so far is `pct` percent of it."""
    day = next(b for b in budgets(stack)["budgets"] if b["period"] == "day")
    assert day["spent_usd"] > 0
    with stack.client(stack.admin_key) as admin:
        answer = admin.put(
            "/v1/admin/budgets/day", json={"amount_usd": day["spent_usd"] * 100 / pct}
        )
    assert answer.status_code == 200, answer.text
    used = next(b for b in answer.json()["budgets"] if b["period"] == "day")["used_pct"]
    assert used == pytest.approx(pct)


def test_free_tier_pauses_at_its_budget_threshold_and_resumes(controlled: Stack) -> None:
    stack = controlled
    _, free_key = stack.new_user(tier=Tier.FREE, credits=20)
    _, paid_key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(paid_key) as paid:
        done = wait_final(paid, submit(paid, photo_bytes(160, 120)).json()["id"])
    assert done["status"] == "completed"
    # 90% used: over the free tier's 80% pause, under the 100% that pauses everyone.
    set_day_budget_used(stack, 90)

    with stack.client(free_key) as free:
        before = balance(free)
        refused = submit(free, photo_bytes(160, 120))
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "service_paused"
        assert balance(free) == before
        assert free.get("/v1/jobs").json()["jobs"] == []
    with stack.client(paid_key) as paid:
        accepted = submit(paid, photo_bytes(160, 120))
        assert accepted.status_code == 202
        assert wait_final(paid, accepted.json()["id"])["status"] == "completed"
    set_day_budget_used(stack, 90)  # again, with the paid job's GPU time spent

    first = run_alerts(stack)
    second = run_alerts(stack)
    budget_notices = [n for n in first.notices if n.key.startswith("budget:day")]
    assert [(n.key, n.state) for n in budget_notices] == [("budget:day:80", "firing")]
    assert not [n for n in second.notices if n.key.startswith("budget:")]
    with stack.client(stack.admin_key) as admin:
        open_alerts = admin.get("/v1/admin/alerts", params={"open_only": True}).json()["alerts"]
        assert [a["key"] for a in open_alerts if a["key"].startswith("budget:")] == [
            "budget:day:80"
        ]
        resumed = admin.post("/v1/admin/controls/free/resume", json={"reason": "budget raised"})
        assert resumed.status_code == 200
    with stack.client(free_key) as free:
        assert submit(free, photo_bytes(160, 120)).status_code == 202

    with stack.client(stack.admin_key) as admin:
        audit = admin.get("/v1/admin/controls/audit").json()["actions"]
    actions = [(line["action"], line["scope"]) for line in audit[:3]]
    assert actions == [("resume", "free"), ("set_budget", "day"), ("set_budget", "day")]


def test_emergency_stop_pauses_every_tier_and_resume_restores_them(controlled: Stack) -> None:
    stack = controlled
    _, paid_key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(stack.admin_key) as admin:
        stopped = admin.post("/v1/admin/controls/all/stop", json={"reason": "runaway spend"})
        assert stopped.status_code == 200
        assert {c["scope"]: c["paused"] for c in stopped.json()["controls"]}["all"] is True
    with stack.client(paid_key) as paid:
        refused = submit(paid, photo_bytes(160, 120))
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "service_paused"
        assert balance(paid) == 20
    with stack.client(stack.admin_key) as admin:
        assert admin.post("/v1/admin/controls/all/resume", json={}).status_code == 200
        assert admin.post("/v1/admin/controls/nowhere/stop", json={}).status_code == 422
        audit = admin.get("/v1/admin/controls/audit").json()["actions"]
    assert [(a["action"], a["scope"], a["actor_id"]) for a in audit[:2]] == [
        ("resume", "all", audit[0]["actor_id"]),
        ("stop", "all", audit[0]["actor_id"]),
    ]
    assert audit[1]["detail"] == "runaway spend"
    with stack.client(paid_key) as paid:
        assert submit(paid, photo_bytes(160, 120)).status_code == 202


def test_a_budget_over_100_percent_pauses_paid_too(controlled: Stack) -> None:
    stack = controlled
    _, paid_key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(paid_key) as paid:
        wait_final(paid, submit(paid, photo_bytes(160, 120)).json()["id"])
    month = next(b for b in budgets(stack)["budgets"] if b["period"] == "month")
    with stack.client(stack.admin_key) as admin:
        admin.put("/v1/admin/budgets/month", json={"amount_usd": month["spent_usd"] / 2})
    with stack.client(paid_key) as paid:
        refused = submit(paid, photo_bytes(160, 120))
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "service_paused"
