"""Where the GPU worker reads its weights from, checked before the model loads.

Two modes (Dockerfile.runpod, docs/gpu-engine.md "The image"):
- baked (the default): the weights were fetched at build time (deploy/runpod/fetch_weights.py)
  into HF_HOME inside the image and are read offline (HF_HUB_OFFLINE=1): the folder must exist
  and be readable by the worker's user;
- network volume: HF_HOME on the endpoint's volume, where the first cold start downloads the
  weights: the folder must be writable, or the worker says so plainly and exits.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def weights_cache_problem(environ: Mapping[str, str] = os.environ) -> str | None:
    """Why the model cannot load from HF_HOME as configured; None when it can."""
    home = environ.get("HF_HOME")
    if not home:
        return None  # huggingface_hub's own default under the user's home
    folder = Path(home)
    offline = environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if offline:
        if not folder.is_dir():
            return (
                f"HF_HUB_OFFLINE=1 but the weights folder HF_HOME={home} does not exist: "
                "build the image with its weights baked, or mount the network volume"
            )
        if not os.access(folder, os.R_OK | os.X_OK):
            return f"the weights folder HF_HOME={home} is not readable by uid {os.getuid()}"
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".heirloom-write-check-"):
            pass
    except OSError as exc:
        return (
            f"the weights folder HF_HOME={home} is not writable by uid {os.getuid()} "
            f"({exc.strerror or exc}): attach a network volume to the endpoint (mounted at "
            "/runpod-volume) or use the image with baked weights"
        )
    return None
