"""Static checks of Dockerfile.runpod (no Docker engine runs here) and of the worker's start-up
check of its weights folder: weights in a layer of their own before the source, read offline
from a folder the runtime user can read; revisions pinned by the fetch script."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from heirloom.gpu_handler.weights import weights_cache_problem

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile.runpod"
FETCH_SCRIPT = ROOT / "deploy" / "runpod" / "fetch_weights.py"
RUNTIME_UID = "10001"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), " ".join(rest.split())))
    return found


def index_of(kind: str, needle: str) -> int:
    matches = [i for i, (k, args) in enumerate(instructions()) if k == kind and needle in args]
    assert len(matches) == 1, f"expected one {kind} with {needle!r}, found {len(matches)}"
    return matches[0]


def env() -> dict[str, str]:
    values: dict[str, str] = {}
    for kind, args in instructions():
        if kind == "ENV":
            for pair in args.split():
                name, _, value = pair.partition("=")
                values[name] = value
    return values


def test_the_weights_have_their_own_layer_between_the_packages_and_the_source() -> None:
    packages = index_of("RUN", "pip install --requirement")
    script = index_of("COPY", "deploy/runpod/fetch_weights.py")
    weights = index_of("RUN", "fetch_weights.py")
    source = index_of("COPY", "src ./src")
    assert packages < script < weights < source
    # Nothing of the source reaches the image before the weights: an edit of src/ (or of the
    # package metadata) leaves the weights layer cached.
    for kind, args in instructions()[:weights]:
        if kind in ("COPY", "ADD"):
            assert "src" not in args.split()
            assert "pyproject.toml" not in args


def test_the_fetch_script_reads_no_heirloom_source_and_pins_revisions() -> None:
    tree = ast.parse(FETCH_SCRIPT.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert "heirloom" not in imported
    # An unpinned build stops before downloading anything.
    result = subprocess.run(
        [sys.executable, str(FETCH_SCRIPT)],
        env={
            **os.environ,
            "HEIRLOOM_QWEN__MODEL_ID": "Qwen/Qwen-Image-Edit-2511",
            "HEIRLOOM_QWEN__REVISION": "main",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert "HEIRLOOM_QWEN__REVISION must be a repository's 40-character commit id" in result.stderr


def test_the_weights_are_read_offline_from_a_folder_the_runtime_user_can_read() -> None:
    values = env()
    assert values["HF_HUB_OFFLINE"] == "1"
    home = values["HF_HOME"]
    assert home == "/opt/huggingface"
    weights = instructions()[index_of("RUN", "fetch_weights.py")][1]
    # Fetched online for the build only, then made readable (and traversable) by everyone.
    assert "HF_HUB_OFFLINE=0 python /opt/heirloom/fetch_weights.py" in weights
    assert weights.endswith(f"chmod -R a+rX {home}")
    user = [args for kind, args in instructions() if kind == "USER"]
    assert user == [f"{RUNTIME_UID}:{RUNTIME_UID}"]
    assert index_of("USER", RUNTIME_UID) > index_of("RUN", "fetch_weights.py")
    # The runtime settings name what was baked.
    for name in ("MODEL_ID", "REVISION", "LORA_ID", "LORA_WEIGHT_NAME", "LORA_REVISION"):
        assert values[f"HEIRLOOM_QWEN__{name}"] == f"${{HEIRLOOM_QWEN__{name}}}"


def test_offline_weights_must_be_there(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    problem = weights_cache_problem({"HF_HOME": str(missing), "HF_HUB_OFFLINE": "1"})
    assert problem is not None
    assert "does not exist" in problem
    assert weights_cache_problem({"HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}) is None


def test_a_volume_that_is_not_writable_is_named_plainly(tmp_path: Path) -> None:
    # A file where the volume should be: no user, root included, can make the folder.
    not_a_volume = tmp_path / "runpod-volume"
    not_a_volume.write_text("")
    problem = weights_cache_problem({"HF_HOME": str(not_a_volume / "huggingface")})
    assert problem is not None
    assert "not writable" in problem
    assert "network volume" in problem
    writable = weights_cache_problem({"HF_HOME": str(tmp_path / "writable" / "huggingface")})
    assert writable is None
