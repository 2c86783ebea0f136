"""The order pytest-xdist hands test files to its workers, and where a run's time went.

With `--dist loadfile` a file runs on one worker from start to end; a long file handed out
last keeps the run going while the other workers sit idle (the run's tail). So the files that
take longest go first (`--no-loadscope-reorder` keeps this order instead of xdist's "most
tests first"), and every run prints its slowest files, to keep the list below honest.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

# The slowest files, slowest first (seconds of setup, call and teardown per file, summed over
# its tests, in a `.ci/run` beside a CPU-heavy load on 2 cores, 2026-12-08: 3,064 s in all).
# The summary every run prints under "slowest files" gives the current figures.
SLOWEST_FILES = (
    "tests/integration/test_benches.py",  # 318 s
    "tests/integration/test_openapi_contract.py",  # 294 s
    "tests/integration/test_chaos.py",  # 200 s
    "tests/integration/test_user_messages.py",  # 149 s
    "tests/integration/test_storage_backends_lifecycle.py",  # 122 s
    "tests/integration/test_settlement.py",  # 96 s
    "tests/integration/test_results_lifecycle.py",  # 91 s
    "tests/integration/test_workflow_rules.py",  # 87 s
    "tests/integration/test_readme_promises.py",  # 78 s
    "tests/integration/test_worker_shutdown.py",  # 71 s
    "tests/integration/test_live_status.py",  # 64 s
    "tests/integration/test_gpu_queue.py",  # 59 s
    "tests/integration/test_upload_memory.py",  # 56 s
    "tests/integration/test_jobs_api.py",  # 53 s
    "tests/integration/test_accounts_api.py",  # 52 s
)


def slowest_first(items: list[pytest.Item]) -> None:
    """Sort the collected items so the slowest files come first (stable: each file keeps its
    own order, and the rest keep theirs)."""
    rank = {name: n for n, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


class FileTimes:
    """Seconds of setup, call and teardown per test file, from every worker's reports."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def add(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid.split("::", 1)[0]] += report.duration

    def summary(self, shown: int = 15) -> list[str]:
        total = sum(self.seconds.values())
        ranked = sorted(self.seconds.items(), key=lambda pair: -pair[1])[:shown]
        return [f"{seconds:8.1f}s  {name}" for name, seconds in ranked] + [
            f"{total:8.1f}s  in all ({len(self.seconds)} files)"
        ]
