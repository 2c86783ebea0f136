"""Fetch the GPU engine's pinned weights into HF_HOME at image build time (Dockerfile.runpod).

Standalone on purpose (only huggingface_hub, no Heirloom source): the image copies this file
alone into the weights layer, so an edit of the source never rebuilds ~58 GB of weights. It
reads the same HEIRLOOM_QWEN__* variables the handler loads with, and refuses a model or LoRA
revision that is not a full commit id: what is baked is exactly what is named.
"""

from __future__ import annotations

import os
import re
import sys

COMMIT = re.compile(r"[0-9a-f]{40}")


def pinned(name: str) -> str:
    revision = os.environ.get(name, "")
    if not COMMIT.fullmatch(revision):
        sys.exit(f"error: {name} must be a repository's 40-character commit id, not {revision!r}")
    return revision


def main() -> None:
    model_id = os.environ["HEIRLOOM_QWEN__MODEL_ID"]
    revision = pinned("HEIRLOOM_QWEN__REVISION")
    lora_id = os.environ.get("HEIRLOOM_QWEN__LORA_ID", "")
    lora_revision = pinned("HEIRLOOM_QWEN__LORA_REVISION") if lora_id else ""
    # Imported once the pins are checked: an unpinned build stops before any download.
    from huggingface_hub import hf_hub_download, snapshot_download

    print(snapshot_download(model_id, revision=revision))
    if not lora_id:
        return
    weight_name = os.environ.get("HEIRLOOM_QWEN__LORA_WEIGHT_NAME", "")
    if weight_name:
        print(hf_hub_download(lora_id, weight_name, revision=lora_revision))
    else:
        print(snapshot_download(lora_id, revision=lora_revision))


if __name__ == "__main__":
    main()
