"""Crash-proofing: worker processes killed mid-job, and the Temporal server restarted."""

from __future__ import annotations

import asyncio
from pathlib import Path

from heirloom.devstack.temporal_server import TemporalDevServer
from tests.conftest import CHAOS_NAMESPACE
from tests.harness.chaos import run_chaos
from tests.harness.serving import free_port
from tests.support import photo_bytes


def test_killed_workers_never_lose_double_charge_or_run_the_model_twice(
    temporal_server: TemporalDevServer, tmp_path: Path
) -> None:
    report = asyncio.run(
        run_chaos(
            home=tmp_path,
            temporal_address=temporal_server.address,
            namespace=CHAOS_NAMESPACE,
            photo=photo_bytes(320, 240),
            jobs=20,
            kills=5,
        )
    )
    assert report.kills >= 5
    assert report.kills_in_model_calls == report.kills, report
    assert report.model_calls_resumed > 0, report
    assert report.lost_jobs == 0, report
    assert report.completed == 20, report
    assert report.model_executions == 20, report
    assert report.second_model_executions == 0, report
    assert report.double_charges == 0
    assert report.ledger_consistent
    assert report.credits_actual == report.credits_expected == 0


# Each job's worker exits inside its submit window, so each job costs a worker start; eight
# windows show the rule (bench/chaos.py --exit-after-submit runs twenty).
SUBMIT_WINDOW_JOBS = 8


def test_a_kill_inside_every_submit_window_never_runs_the_model_twice(
    temporal_server: TemporalDevServer, tmp_path: Path
) -> None:
    report = asyncio.run(
        run_chaos(
            home=tmp_path,
            temporal_address=temporal_server.address,
            namespace=CHAOS_NAMESPACE,
            photo=photo_bytes(320, 240),
            jobs=SUBMIT_WINDOW_JOBS,
            kills=0,
            model_ms=300,
            exit_after_submit=True,
            timeout_s=400,
        )
    )
    # Every job's first submission lost its id with the worker; its retry submitted again.
    jobs = SUBMIT_WINDOW_JOBS
    assert report.submit_window_exits == jobs, report
    assert report.double_submissions == jobs, report
    assert report.duplicate_runs == jobs, report
    assert report.completed == jobs, report
    assert report.model_executions == jobs, report
    assert report.second_model_executions == 0, report
    assert report.double_charges == 0
    assert report.ledger_consistent
    assert report.credits_actual == report.credits_expected == 0


def test_restarting_the_temporal_server_mid_load_loses_no_job(tmp_path: Path) -> None:
    server = TemporalDevServer(
        port=free_port(), ui_port=None, db_file=tmp_path / "temporal.db", namespaces=["restart"]
    )
    server.start()
    try:
        report = asyncio.run(
            run_chaos(
                home=tmp_path,
                temporal_address=server.address,
                namespace="restart",
                photo=photo_bytes(320, 240),
                jobs=10,
                kills=0,
                server=server,
                server_restarts=2,
            )
        )
    finally:
        server.stop()
    assert report.server_restarts == 2
    assert report.lost_jobs == 0, report
    assert report.completed == 10, report
    assert report.double_charges == 0
    assert report.ledger_consistent
    assert report.credits_actual == report.credits_expected == 0
