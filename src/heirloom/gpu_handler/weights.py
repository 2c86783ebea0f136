"""Fetch the configured model and LoRA into the Hugging Face cache (HF_HOME) ahead of time.

`Dockerfile.runpod` runs this at build time to bake the weights into the image, so a cold
start reads them from the image instead of downloading tens of GB.
"""

from __future__ import annotations

from heirloom.config import QwenSettings, Settings


def download(options: QwenSettings) -> list[str]:
    """Download what `QwenImageEditEngine.load(options)` reads; returns the local paths."""
    from huggingface_hub import hf_hub_download, snapshot_download

    paths = [snapshot_download(options.model_id)]
    if options.lora_id:
        if options.lora_weight_name:
            paths.append(hf_hub_download(options.lora_id, options.lora_weight_name))
        else:
            paths.append(snapshot_download(options.lora_id))
    return paths


if __name__ == "__main__":
    for path in download(Settings().qwen):
        print(path)
