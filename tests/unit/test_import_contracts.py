"""The layer contracts bite: each one, broken on purpose in a copy of the source, fails
lint-imports.

`make test` runs `lint-imports` on the real tree (make lint); these tests show that every
contract in pyproject.toml would catch its own kind of breach.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# contract id -> (module file under src/heirloom, the import that breaks it)
BREACHES = {
    "layers": ("services/money/credits.py", "import heirloom.activities.cleanup"),
    "domain": ("domain/tiers.py", "import sqlalchemy"),
    "services": ("services/money/credits.py", "import temporalio.client"),
    "workflows": ("workflows/cleanup.py", "import heirloom.services.context"),
    "activities": ("activities/cleanup.py", "import heirloom.workflows.cleanup"),
    "api": ("api/routes/pricing.py", "import heirloom.worker.main"),
    "gpu-handler": ("gpu_handler/prompts.py", "import heirloom.services.storage.base"),
    "no-harness": ("config.py", "import tests.harness.serving"),
    "acyclic": ("services/events/webhooks.py", "import heirloom.services.money.credits"),
}


def _lint(tree: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    selected = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *selected],
        cwd=tree,
        env={"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the source and its contracts, to break."""
    shutil.copytree(ROOT / "src" / "heirloom", tmp_path / "src" / "heirloom")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_every_contract_has_a_breach_here() -> None:
    declared = {
        line.split('"')[1]
        for line in (ROOT / "pyproject.toml").read_text().splitlines()
        if line.startswith("id = ")
    }
    assert declared == set(BREACHES)


def test_the_copy_keeps_every_contract(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("contract", sorted(BREACHES))
def test_a_breach_fails_its_contract(tree: Path, contract: str) -> None:
    module, statement = BREACHES[contract]
    path = tree / "src" / "heirloom" / module
    path.write_text(f"{path.read_text()}\n{statement}  # noqa: E402, F401\n")
    result = _lint(tree, contract)
    assert result.returncode != 0, result.stdout
    assert "1 broken" in result.stdout, result.stdout
