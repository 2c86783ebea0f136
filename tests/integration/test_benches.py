"""Every benchmark still runs: each `bench/` script in a quick mode of a few seconds, as a
smoke test, so a product change that breaks one fails `make test` (issue #32).

The figures of such short runs mean nothing and are written to a temporary folder
(BENCH_RESULTS_DIR), never over a real run's bench/results/. The verdict is that the script ran
to its end and wrote its JSON; what each figure should be is each benchmark's own business.
`bench/gpu_check.py` needs the GPU venv and runs in `make test-gpu-path` (`--dry`).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# script -> (its quick arguments, the JSON files it writes)
QUICK: dict[str, tuple[str, list[str]]] = {
    "imaging.py": ("--reps 1", ["imaging.json"]),
    "quality.py": ("--quick", ["quality.json"]),
    "streams.py": ("--streams 10 --seconds 1 --rate 5", ["streams.json"]),
    "chaos.py": ("--jobs 3 --kills 1 --model-ms 200", ["chaos.json"]),
    "fairness.py": ("--gpus 2 --model-ms 100 --seconds 1.5 --designs prefetch", ["fairness.json"]),
    "pool_sim.py": ("--gpus 10 --endpoints 2 --jobs 40 --model-s 0.2", ["pool_sim.json"]),
    "idle.py": ("--seconds 3", ["idle.json"]),
    "overhead.py": (
        "--jobs 3 --warmup 1 --concurrency 2 --jobs-per-client 1 --min-jobs 2",
        ["overhead.json"],
    ),
    "api.py": (
        "--model-ms 0 --users 2 --clients 2 --max-seconds 1 --duration 2 --status-seconds 1 "
        "--status-readers 1 --warmup 0.5 --readers 1 --gpus 1",
        ["api.json"],
    ),
}
NOT_HERE = {"harness.py": "shared code, not a benchmark", "gpu_check.py": "make test-gpu-path"}


def test_every_benchmark_has_a_quick_run() -> None:
    scripts = {path.name for path in (ROOT / "bench").glob("*.py")}
    assert scripts - NOT_HERE.keys() == QUICK.keys()


@pytest.mark.parametrize("script", sorted(QUICK))
def test_the_benchmark_runs_to_its_end(script: str, tmp_path: Path) -> None:
    arguments, outputs = QUICK[script]
    env = {**os.environ, "BENCH_RESULTS_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, f"bench/{script}", *shlex.split(arguments)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, f"{script} failed:\n{(done.stdout + done.stderr)[-3000:]}"
    for name in outputs:
        assert json.loads((tmp_path / name).read_text()), f"{script} wrote an empty {name}"
