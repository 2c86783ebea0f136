"""Chaos benchmark: jobs in flight while the worker is SIGKILLed and restarted.

Prints jobs, kills, completed, failed, double charges (must be 0), lost jobs (must be 0), RunPod
submissions per job beside model executions per job (must be exactly 1.00), and writes them to
bench/results/chaos.json. Run: `python bench/chaos.py [--jobs N --kills K] [--exit-after-submit]`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

from PIL import Image

# First: it puts the repository root on sys.path, for tests.harness.
import harness

# isort: split
from tests.harness.chaos import run_chaos
from tests.harness.serving import free_port

from heirloom.devstack.temporal_server import TemporalDevServer

RESULTS = harness.RESULTS_DIR


def small_photo() -> bytes:
    gradient = Image.linear_gradient("L").resize((320, 240))
    image = Image.merge("RGB", (gradient, gradient.rotate(90), Image.effect_noise((320, 240), 30)))
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--model-ms", type=int, default=1500)
    parser.add_argument("--gpus", type=int, default=1, help="simulated GPU workers")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--exit-after-submit",
        action="store_true",
        help="also end the worker inside the submit window on every job's first model attempt",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        server = TemporalDevServer(
            port=free_port(), ui_port=None, db_file=home / "temporal.db", namespaces=["chaos"]
        )
        server.start()
        try:
            report = asyncio.run(
                run_chaos(
                    home=home,
                    temporal_address=server.address,
                    namespace="chaos",
                    photo=small_photo(),
                    jobs=args.jobs,
                    kills=args.kills,
                    model_ms=args.model_ms,
                    gpus=args.gpus,
                    seed=args.seed,
                    exit_after_submit=args.exit_after_submit,
                    timeout_s=600 if args.exit_after_submit else 180,
                )
            )
        finally:
            server.stop()
    submitted = report.submissions
    executions_per_job = report.model_executions / max(report.jobs, 1)
    rows = [
        ("jobs", report.jobs),
        ("kills", report.kills),
        ("completed", report.completed),
        ("failed", report.failed),
        ("cancelled", report.cancelled),
        ("double charges (must be 0)", report.double_charges),
        ("lost jobs (must be 0)", report.lost_jobs),
        ("kills inside a model call", report.kills_in_model_calls),
        ("exits inside the submit window", report.submit_window_exits),
        ("RunPod double submissions", report.double_submissions),
        ("RunPod submissions per job", f"{submitted / max(report.jobs, 1):.2f}"),
        ("model executions per job (must be 1.00)", f"{executions_per_job:.2f}"),
        ("jobs with a second model execution", report.second_model_executions),
        (
            "duplicate runs (claim found) / their GPU ms",
            f"{report.duplicate_runs} / {report.duplicate_gpu_ms}",
        ),
        ("model calls resumed after a kill", report.model_calls_resumed),
        ("ledger == balance", report.ledger_consistent),
        ("credits expected / actual", f"{report.credits_expected} / {report.credits_actual}"),
        ("seconds", f"{report.seconds:.1f}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "chaos.json").write_text(json.dumps(asdict(report), indent=2))


if __name__ == "__main__":
    main()
