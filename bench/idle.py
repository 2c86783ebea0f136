"""What an idle stack records in Temporal: workflow runs per type while nothing is submitted.

Run from the repository root: python bench/idle.py [--seconds 120] [--before REF]
(in a venv without the package installed: PYTHONPATH=src python bench/idle.py).

The stack runs as child processes (tests.harness.processes.process_stack: the embedded Temporal
dev server, `heirloom worker` with its Schedules registered as in `make dev`, the API and the
RunPod endpoint), idle for `--seconds`; then every workflow execution Temporal recorded in that
window is listed and counted by type, and the count scaled to 10 minutes. With `--before REF`
the same run against commit REF's src goes first and both are printed side by side. Writes
bench/results/idle.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# First: it puts the repository root on sys.path, for tests.harness.
import harness

# isort: split
from temporalio.client import Client
from tests.harness.processes import process_stack

TEN_MINUTES_S = 600.0


async def _count(address: str) -> Counter[str]:
    client = await Client.connect(address)
    counts: Counter[str] = Counter()
    async for execution in client.list_workflows():
        counts[execution.workflow_type] += 1
    return counts


def measure(seconds: float) -> dict[str, Any]:
    """Start the stack, stay idle for `seconds`, count what Temporal recorded."""
    with (
        tempfile.TemporaryDirectory(prefix="heirloom-idle-") as tmp,
        process_stack(Path(tmp), gpus=1) as stack,
    ):
        started = time.monotonic()
        time.sleep(seconds)
        idle_s = time.monotonic() - started
        counts = asyncio.run(_count(stack.server.address))
    total = sum(counts.values())
    return {
        "idle_s": idle_s,
        "runs_by_type": dict(counts),
        "runs": total,
        "runs_per_10_min": total * TEN_MINUTES_S / idle_s,
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
    types = sorted({t for _, r in columns for t in r["runs_by_type"]})
    print(f"\nWorkflow runs Temporal recorded on an idle stack ({args.seconds:g} s window):")
    harness.print_table(
        ["workflow type", *(name for name, _ in columns)],
        [[t, *(r["runs_by_type"].get(t, 0) for _, r in columns)] for t in types]
        + [["all, scaled to 10 minutes", *(f"{r['runs_per_10_min']:.0f}" for _, r in columns)]],
    )
    path = harness.write_results("idle", report, args.results_file)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
