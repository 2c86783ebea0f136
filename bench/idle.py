"""What an idle stack records in Temporal: workflow runs per type while nothing is submitted.

Run from the repository root: python bench/idle.py [--seconds 120] [--before REF]
(in a venv without the package installed: PYTHONPATH=src python bench/idle.py).

The stack runs as child processes (tests.harness.processes.process_stack: the embedded Temporal
dev server, `heirloom worker` with its Schedules registered as in `make dev`, the API and the
RunPod endpoint), idle for `--seconds`; then every workflow execution Temporal recorded is
listed and counted by type: those started with the stack (before the window: a looping job's
run, started as its schedule is created, goes on for an hour) apart from those started in the
window, whose count is scaled to 10 minutes. The passes the runs made in the window (the
activities they scheduled, by type) show the periodic work still done at its interval. With
`--before REF` the same run against commit REF's src goes first and both are printed side by
side. Writes bench/results/idle.json.

Figures (docs/performance.md): with reconciliation, alerts and queue metrics in hour-long runs,
3.3 runs started per 10 idle minutes (the 5-minute webhook sweep; the hourly schedules add
about 0.8 on average) beside the 3 runs started with the stack, against 33.3 with their
1-minute Schedules (6519e25), for the same 10 passes in 180 s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# First: it puts the repository root on sys.path, for tests.harness.
import harness

# isort: split
from temporalio.client import Client
from tests.harness.processes import process_stack

TEN_MINUTES_S = 600.0


async def _count(address: str, since: datetime) -> dict[str, Counter[str]]:
    """Runs by type, started before `since` and after it, and the activities scheduled after
    it (by the runs of either)."""
    client = await Client.connect(address)
    counts: dict[str, Counter[str]] = {"at_start": Counter(), "in_window": Counter()}
    activities: Counter[str] = Counter()
    async for execution in client.list_workflows():
        started = execution.start_time
        counts["in_window" if started >= since else "at_start"][execution.workflow_type] += 1
        run = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        for event in (await run.fetch_history()).events:
            scheduled = event.activity_task_scheduled_event_attributes
            if event.HasField("activity_task_scheduled_event_attributes") and (
                event.event_time.ToDatetime(tzinfo=UTC) >= since
            ):
                activities[scheduled.activity_type.name] += 1
    counts["activities"] = activities
    return counts


def measure(seconds: float) -> dict[str, Any]:
    """Start the stack, stay idle for `seconds`, count what Temporal recorded."""
    with (
        tempfile.TemporaryDirectory(prefix="heirloom-idle-") as tmp,
        process_stack(Path(tmp), gpus=1) as stack,
    ):
        since = datetime.now(UTC)
        started = time.monotonic()
        time.sleep(seconds)
        idle_s = time.monotonic() - started
        counts = asyncio.run(_count(stack.server.address, since))
    at_start, in_window = counts["at_start"], counts["in_window"]
    runs = sum(in_window.values())
    return {
        "idle_s": idle_s,
        "runs_by_type": dict(at_start + in_window),
        "at_start_by_type": dict(at_start),
        "in_window_by_type": dict(in_window),
        "activities_in_window_by_type": dict(counts["activities"]),
        "runs_at_start": sum(at_start.values()),
        "runs": runs,
        "runs_per_10_min": runs * TEN_MINUTES_S / idle_s,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="idle window")
    parser.add_argument("--before", metavar="REF", help="also run the code at REF first")
    parser.add_argument("--results-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    before = None
    if args.before:
        raw = list(sys.argv[1:] if argv is None else argv)
        before = harness.run_before(args.before, Path(__file__), harness.before_argv(raw))
    env = harness.environment()
    result = measure(args.seconds)
    report: dict[str, Any] = {"environment": env, "settings": {"seconds": args.seconds}}
    report["result"] = result
    columns = [("now", result)]
    if before is not None:
        report["before"] = {"ref": args.before, "report": before}
        columns.insert(0, (args.before, before["result"]))
    results = [r for _, r in columns]
    types = sorted({t for r in results for t in r["runs_by_type"]})
    print(
        f"\nWorkflow runs Temporal recorded on an idle stack: started in the {args.seconds:g} s "
        "window (and with the stack, before it):"
    )
    harness.print_table(
        ["workflow type", *(name for name, _ in columns)],
        [
            [
                t,
                *(
                    f"{r['in_window_by_type'].get(t, 0)} ({r['at_start_by_type'].get(t, 0)})"
                    for r in results
                ),
            ]
            for t in types
        ]
        + [["in the window, per 10 minutes", *(f"{r['runs_per_10_min']:.1f}" for r in results)]],
    )
    kinds = sorted({k for r in results for k in r["activities_in_window_by_type"]})
    print("\nActivities scheduled in the window (the periodic work done), by type:")
    harness.print_table(
        ["activity", *(name for name, _ in columns)],
        [[k, *(r["activities_in_window_by_type"].get(k, 0) for r in results)] for k in kinds]
        + [["all", *(sum(r["activities_in_window_by_type"].values()) for r in results)]],
    )
    path = harness.write_results("idle", report, args.results_file)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
