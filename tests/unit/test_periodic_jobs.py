"""The declared schedules: an idle stack starts a few runs per 10 minutes, and a looping job
still makes a pass every configured interval, in runs of bounded length."""

from __future__ import annotations

from datetime import timedelta

import pytest

from heirloom.config import Settings
from heirloom.domain.periodic import Pace
from heirloom.worker.schedules import LONGEST_RUN, MOST_PASSES_PER_RUN, Periodic, periodic_jobs

TEN_MINUTES = timedelta(minutes=10)


def test_at_the_defaults_the_schedules_start_at_most_three_runs_per_ten_minutes() -> None:
    runs = sum(TEN_MINUTES / job.run_for for job in periodic_jobs(Settings()))
    assert runs <= 3


def test_reconciliation_alerts_and_queue_metrics_loop_at_their_interval() -> None:
    settings = Settings()
    looping = {job.schedule_id: job for job in periodic_jobs(settings) if job.loops}
    intervals = {
        "heirloom-reconcile": settings.reconcile_interval_s,
        "heirloom-alerts": settings.alerts_interval_s,
        "heirloom-queue-metrics": settings.queue_metrics_interval_s,
    }
    assert set(looping) == set(intervals)
    for schedule_id, interval_s in intervals.items():
        job = looping[schedule_id]
        assert job.every == timedelta(seconds=interval_s)
        assert job.scheduled_argument.pace == Pace(interval_s, job.run_for.total_seconds())
        # A test or a start by hand: one pass.
        assert not job.argument.pace.repeats


@pytest.mark.parametrize("interval_s", [1, 7, 30, 60, 600, 3600])
def test_a_looping_run_lasts_at_most_an_hour_and_makes_a_bounded_number_of_passes(
    interval_s: int,
) -> None:
    settings = Settings(
        reconcile_interval_s=interval_s,
        alerts_interval_s=interval_s,
        queue_metrics_interval_s=interval_s,
    )
    for job in periodic_jobs(settings):
        if job.loops:
            assert job.every <= job.run_for <= LONGEST_RUN
            assert job.run_for / job.every <= MOST_PASSES_PER_RUN


def test_a_looping_job_needs_an_input_with_a_pace() -> None:
    with pytest.raises(TypeError):
        Periodic("x", "X", object(), timedelta(minutes=1), "x", loops=True)
