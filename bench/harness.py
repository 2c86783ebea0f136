"""What the benchmarks share: the way in to the test harness, and measuring.

The stack is src's own, assembled by tests/harness (`tests.harness.processes.process_stack`,
`tests.harness.workers.WorkerThread`, the chaos driver); a script run as `python bench/NAME.py`
has bench/ on sys.path, not the repository root, so it imports this module first, which puts
the root there. This module only adds measuring: SQL statement counters, CPU per process, the
load average, statistics and the tables and JSON the scripts write.
"""

from __future__ import annotations

import sys
from pathlib import Path

# After the script's own folder (bench/), before the installed packages.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import contextlib
import io
import json
import logging
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import temporalio
from PIL import Image, ImageDraw
from temporalio import activity

from heirloom.devstack.temporal_server import TemporalDevServer

# Alembic logs its plugin setup as it is imported, and a dependency that configures logging on
# import would do the same: keep the tables readable. The scripts import this module before
# the rest of heirloom.
logging.basicConfig(level=logging.WARNING, force=True)

ROOT = Path(__file__).resolve().parent.parent
# BENCH_RESULTS_DIR: where the smoke test (tests/integration/test_benches.py) sends its figures.
RESULTS_DIR = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results")


def server_flags(server: TemporalDevServer) -> list[str]:
    """The dev server's command line past the binary, for the results file."""
    return server.command()[1:]


@dataclass
class StatementCounter:
    """Counts SQL statements, commits and pool checkouts on an engine, by activity.

    Statements are what SQLAlchemy's before_cursor_execute sees; a COMMIT is one more round trip
    on PostgreSQL, and so is each checkout there (pool_pre_ping). `by_statement` counts each
    (activity, statement text with its whitespace and literals folded) to show where they go.
    """

    statements: Counter[str] = field(default_factory=Counter)
    by_statement: Counter[tuple[str, str]] = field(default_factory=Counter)
    commits: Counter[str] = field(default_factory=Counter)
    checkouts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, engine: sa.Engine) -> None:
        sa.event.listen(engine, "before_cursor_execute", self._on_statement)
        sa.event.listen(engine, "commit", self._on_commit)
        sa.event.listen(engine, "checkout", self._on_checkout)

    def reset(self) -> None:
        with self._lock:
            self.statements.clear()
            self.by_statement.clear()
            self.commits.clear()
            self.checkouts.clear()

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                "statements": dict(self.statements),
                "commits": dict(self.commits),
                "checkouts": dict(self.checkouts),
            }

    def statement_texts(self) -> dict[str, dict[str, int]]:
        """Per activity, each normalized statement's count, most frequent first."""
        with self._lock:
            by_caller: dict[str, dict[str, int]] = {}
            for (caller, text), count in self.by_statement.most_common():
                by_caller.setdefault(caller, {})[text] = count
            return by_caller

    def _on_statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        caller = _caller()
        with self._lock:
            self.statements[caller] += 1
            self.by_statement[caller, _normalized(statement)] += 1

    def _on_commit(self, *_args: Any) -> None:
        with self._lock:
            self.commits[_caller()] += 1

    def _on_checkout(self, *_args: Any) -> None:
        with self._lock:
            self.checkouts[_caller()] += 1


_BLANKS = re.compile(r"\s+")
# Literals and the placeholders of an expanded IN list or a multi-row VALUES.
_LITERALS = re.compile(r"'[^']*'|\b\d+\b|%\(\w+\)s|\?")
_REPEATS = re.compile(r"(\$, )+\$")


def _normalized(statement: str) -> str:
    text = _LITERALS.sub("$", _BLANKS.sub(" ", statement).strip())
    return _REPEATS.sub("$, ...", text)


def _caller() -> str:
    return activity.info().activity_type if activity.in_activity() else "outside-activities"


def photo_jpeg(width: int = 320, height: int = 240, seed: int = 1) -> bytes:
    """A small photo-like JPEG: gradients, a few shapes and grain."""
    rng = random.Random(seed)
    gradient = Image.linear_gradient("L").resize((width, height))
    grain = Image.effect_noise((width, height), 40)
    image = Image.merge(
        "RGB",
        (gradient, Image.blend(gradient.rotate(90).resize((width, height)), grain, 0.3), grain),
    )
    draw = ImageDraw.Draw(image)
    for i in range(6):
        x0, y0 = rng.randrange(0, width - 10), rng.randrange(0, height - 10)
        draw.ellipse((x0, y0, x0 + width // 5, y0 + height // 5), fill=(40 * i, 90, 200 - 20 * i))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 / mean / max of durations given in seconds, as milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "mean": statistics.fmean(ms) if ms else float("nan"),
        "max": max(ms) if ms else float("nan"),
    }


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print(
        "  ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    )
    for row in cells:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


QUIET_LOAD = 1.5


def environment() -> dict[str, Any]:
    """Where the figures were measured; the load average hints at noise from other work."""
    load = os.getloadavg()[0]
    if load > QUIET_LOAD:
        print(
            f"note: 1-minute load average {load:.2f} > {QUIET_LOAD}: other work shares the "
            "CPUs; rerun when the machine is quiet for comparable figures",
            flush=True,
        )
    return {
        "python": platform.python_version(),
        "temporalio": temporalio.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
    }


def write_results(name: str, report: dict[str, Any], path: Path | None = None) -> Path:
    """Write the report to bench/results/NAME.json, or to `path`."""
    report.setdefault("environment", {})["loadavg_at_end"] = os.getloadavg()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = path or RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


@contextlib.contextmanager
def scratch_database(server_url: str | None, home: Path) -> Iterator[str]:
    """A fresh database for one run: a SQLite file under `home`, or, given a PostgreSQL server
    URL, a new database on it, dropped afterwards."""
    if not server_url:
        yield f"sqlite:///{home / 'heirloom.db'}"
        return
    url = sa.engine.make_url(server_url)
    name = f"heirloom_bench_{os.getpid()}_{random.randrange(1 << 30)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_before(ref: str, script: Path, argv: Sequence[str]) -> dict[str, Any]:
    """The same bench script and arguments against commit `ref`'s src (a temporary git
    worktree; this tree's harness), in a child process, before this run: its results file.

    Both runs share the machine and its load; compare them only with each other.
    """
    with tempfile.TemporaryDirectory(prefix="heirloom-before-") as tmp:
        tree, out = Path(tmp) / "tree", Path(tmp) / "results.json"
        git = ["git", "-C", str(ROOT), "worktree"]
        subprocess.run([*git, "add", "--detach", "--quiet", str(tree), ref], check=True)
        try:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree / "src"), str(ROOT)])}
            print(f"... the code at {ref} (a child process)", flush=True)
            subprocess.run(
                [sys.executable, str(script), *argv, "--results-file", str(out)],
                env=env,
                check=True,
            )
            return dict(json.loads(out.read_text()))
        finally:
            subprocess.run([*git, "remove", "--force", str(tree)], check=False)


def before_argv(argv: Sequence[str]) -> list[str]:
    """The command line without `--before REF` (and its `=` form)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--before":
            skip = True
        elif not arg.startswith("--before="):
            out.append(arg)
    return out


def dig(report: dict[str, Any], path: str) -> float:
    """A figure in a results report by its dotted path; NaN when absent."""
    node: Any = report
    for part in path.split("."):
        if isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return float("nan")
    return float(node) if isinstance(node, int | float) else float("nan")


class CpuMeter:
    """CPU seconds used by this process and by named child processes (from /proc)."""

    def __init__(self, children: dict[str, int] | None = None) -> None:
        self.children = dict(children or {})

    def sample(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        times = {"bench": usage.ru_utime + usage.ru_stime}
        for name, pid in self.children.items():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            # utime and stime are fields 14 and 15 of /proc/PID/stat (1-based, counting pid
            # and comm, which the split above removed).
            times[name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return times

    @staticmethod
    def since(now: dict[str, float], earlier: dict[str, float]) -> dict[str, float]:
        return {name: now[name] - earlier[name] for name in now}
