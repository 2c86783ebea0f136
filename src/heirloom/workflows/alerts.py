"""AlertsWorkflow: evaluate the alert rules and deliver each change. Runs on a Schedule, an
evaluation every alerts interval within each run (workflows/periodic.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from heirloom.activities.alerts import AlertActivities
    from heirloom.domain.alerts import AlertsInput, AlertsReport
    from heirloom.workflows.periodic import repeat
    from heirloom.workflows.retry import ALERT_DELIVERY_RETRY, TICK_RETRY

_STEP_TIMEOUT = timedelta(seconds=30)


@workflow.defn
class AlertsWorkflow:
    """Evaluations at the input's pace (default: one): incidents opened or resolved, each
    delivered once it is recorded. The result is the last evaluation's."""

    @workflow.run
    async def run(self, request: AlertsInput) -> AlertsReport:
        return await repeat(request.pace, lambda: self.one_pass(request))

    async def one_pass(self, request: AlertsInput) -> AlertsReport:
        report = await workflow.execute_activity_method(
            AlertActivities.evaluate_alerts,
            request,
            start_to_close_timeout=_STEP_TIMEOUT,
            retry_policy=TICK_RETRY,
        )
        for notice in report.notices:
            await workflow.execute_activity_method(
                AlertActivities.deliver_alert,
                notice,
                start_to_close_timeout=_STEP_TIMEOUT,
                retry_policy=ALERT_DELIVERY_RETRY,
            )
        workflow.set_current_details(
            f"{report.findings} conditions hold; "
            + (", ".join(f"{n.key} {n.state}" for n in report.notices) or "no change")
        )
        return report
