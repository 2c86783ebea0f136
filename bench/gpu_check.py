"""One GPU check for the Qwen-Image-Edit engine (`make gpu-check`; docs/gpu-engine.md).

On a machine with an NVIDIA GPU and no internet, in under 8 minutes:
1. the tiny-model tests (tests/gpu) on CUDA: the engine's real pipeline code, both CPU
   offload modes, the 2511 `zero_cond_t` path and a LoRA in the published key format;
2. the full-size Qwen-Image-Edit-2511 transformer with random bf16 weights built directly on
   the GPU (no download): the denoising loop timed at 4 and 8 steps at 1 MP and at each
   tier's frame, with true CFG off (Lightning) and the peak GPU memory;
3. a cold load of that transformer from local disk (saved, then read back by a fresh process).
Figures go to one JSON file (--out), rewritten after every measurement, so a timeout still
leaves what finished.

`--dry` runs the same code on the CPU with the tiny transformer (what a machine without a GPU
can check: the script works and the JSON has its shape); its figures say nothing of a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from heirloom.domain.tiers import DEFAULT_TIER_RULES  # noqa: E402
from heirloom.gpu_handler.engines import working_size  # noqa: E402

# Qwen-Image-Edit-2511's transformer (its transformer/config.json): 60 blocks, 24 heads of 128.
FULL_TRANSFORMER: dict[str, Any] = {
    "patch_size": 2,
    "in_channels": 64,
    "out_channels": 16,
    "num_layers": 60,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 3584,
    "guidance_embeds": False,
    "axes_dims_rope": (16, 56, 56),
    "zero_cond_t": True,
}
# The tiny transformer of tests/gpu, for --dry.
TINY_TRANSFORMER: dict[str, Any] = {
    "patch_size": 2,
    "in_channels": 16,
    "out_channels": 4,
    "num_layers": 2,
    "attention_head_dim": 16,
    "num_attention_heads": 3,
    "joint_attention_dim": 16,
    "guidance_embeds": False,
    "axes_dims_rope": (8, 4, 4),
    "zero_cond_t": True,
}
# Latent pixels per token: the VAE's 8x, then the transformer's 2x2 patches.
PIXELS_PER_TOKEN_SIDE = 16
# A prompt of about this many tokens (the Heirloom prompts plus the chat template).
PROMPT_TOKENS = 160
STEP_COUNTS = (4, 8)


class Report:
    """The JSON of figures, written again after each one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        self.write()

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.write()

    def write(self) -> None:
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.data, indent=2, default=str) + "\n")
        partial.replace(self.path)


def frames(shrink: int = 1) -> dict[str, tuple[int, int]]:
    """The model's drawing frame at 1 MP and each tier's output frame (4:3, multiples of 32),
    each side divided by `shrink` (the dry run's CPU)."""
    areas = {"1mp": 1024 * 1024}
    for tier, rules in DEFAULT_TIER_RULES.items():
        long_side = rules.output_long_side
        areas[f"tier_{tier}"] = long_side * (long_side * 3 // 4)
    return {name: working_size((4, 3), area // shrink**2) for name, area in areas.items()}


def run_tiny_tests(report: Report, device: str, timeout_s: float) -> None:
    """tests/gpu on `device` (HEIRLOOM_GPU_TEST_DEVICE): their summary line and duration."""
    started = time.monotonic()
    env = {**os.environ, "HEIRLOOM_GPU_TEST_DEVICE": device, "PYTHONPATH": str(ROOT / "src")}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/gpu", "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        lines = (result.stdout + result.stderr).strip().splitlines()
        outcome = {"returncode": result.returncode, "summary": lines[-1] if lines else ""}
    except subprocess.TimeoutExpired:
        outcome = {"returncode": None, "summary": f"timed out after {timeout_s:.0f} s"}
    outcome["seconds"] = round(time.monotonic() - started, 1)
    outcome["device"] = device
    report.put("tiny_model_tests", outcome)


def build_transformer(torch: Any, config: dict[str, Any], device: str, dtype: Any) -> Any:
    """The transformer with random weights, made directly on `device` in `dtype`."""
    from diffusers import QwenImageTransformer2DModel

    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = QwenImageTransformer2DModel(**config)
    finally:
        torch.set_default_dtype(default_dtype)
    return model.eval()


def denoise_seconds(
    torch: Any, model: Any, frame: tuple[int, int], steps: int, device: str, dtype: Any
) -> float:
    """Seconds for `steps` transformer passes as QwenImageEditPlusPipeline makes them: the
    target's tokens, then the reference photo's at the same frame, one prompt, no true CFG."""
    width, height = frame
    rows, cols = height // PIXELS_PER_TOKEN_SIDE, width // PIXELS_PER_TOKEN_SIDE
    channels = model.config.in_channels
    text_dim = model.config.joint_attention_dim
    generator = torch.Generator(device="cpu").manual_seed(0)
    latents = torch.randn((1, rows * cols, channels), generator=generator).to(device, dtype)
    reference = torch.randn((1, rows * cols, channels), generator=generator).to(device, dtype)
    prompt = torch.randn((1, PROMPT_TOKENS, text_dim), generator=generator).to(device, dtype)
    mask = torch.ones((1, PROMPT_TOKENS), dtype=torch.long, device=device)
    img_shapes = [[(1, rows, cols), (1, rows, cols)]]
    synchronize = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    synchronize()
    started = time.perf_counter()
    with torch.inference_mode():
        for step in range(steps):
            timestep = torch.full((1,), 1.0 - step / steps, device=device, dtype=dtype)
            noise = model(
                hidden_states=torch.cat([latents, reference], dim=1),
                timestep=timestep,
                encoder_hidden_states=prompt,
                encoder_hidden_states_mask=mask,
                img_shapes=img_shapes,
                return_dict=False,
            )[0][:, : latents.size(1)]
            latents = latents - noise / steps
    synchronize()
    return time.perf_counter() - started


def time_denoising(report: Report, torch: Any, model: Any, device: str, dtype: Any) -> None:
    cuda = device.startswith("cuda")
    timings: dict[str, Any] = {} if cuda else {"note": "dry run: frames at a quarter side"}
    report.put("denoising", timings)
    # A first pass compiles kernels and fills caches: not a step a job would pay each time.
    denoise_seconds(torch, model, (256, 256), 1, device, dtype)
    for name, frame in frames(1 if cuda else 4).items():
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        row: dict[str, Any] = {"frame": f"{frame[0]}x{frame[1]}"}
        for steps in STEP_COUNTS:
            seconds = denoise_seconds(torch, model, frame, steps, device, dtype)
            row[f"{steps}_steps_s"] = round(seconds, 3)
            row[f"{steps}_steps_per_step_s"] = round(seconds / steps, 4)
        if cuda:
            row["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        timings[name] = row
        report.write()


def cold_load(report: Report, torch: Any, model: Any, device: str, timeout_s: float) -> None:
    """Save the transformer to local disk, then time a fresh process loading it onto `device`."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("GPU_CHECK_DISK")) as folder:
        started = time.monotonic()
        model.save_pretrained(folder, safe_serialization=True)
        saved_s = time.monotonic() - started
        size = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
        loader = (
            "import sys, time, torch\n"
            "from diffusers import QwenImageTransformer2DModel\n"
            "t = time.monotonic()\n"
            "dtype = getattr(torch, sys.argv[3])\n"
            "m = QwenImageTransformer2DModel.from_pretrained(sys.argv[1], torch_dtype=dtype)\n"
            "m.to(sys.argv[2])\n"
            "if sys.argv[2].startswith('cuda'): torch.cuda.synchronize()\n"
            "print(time.monotonic() - t)\n"
        )
        outcome: dict[str, Any] = {"bytes_on_disk": size, "save_s": round(saved_s, 1)}
        try:
            result = subprocess.run(
                [sys.executable, "-c", loader, folder, device, str(model.dtype).split(".")[-1]],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=True,
            )
            outcome["load_s"] = round(float(result.stdout.strip().splitlines()[-1]), 2)
        except subprocess.TimeoutExpired:
            outcome["load_s"] = f"timed out after {timeout_s:.0f} s"
        except subprocess.CalledProcessError as exc:
            outcome["error"] = exc.stderr.strip().splitlines()[-1:]
        report.put("cold_load_from_disk", outcome)


def step(report: Report, name: str, work: Callable[[], None]) -> None:
    """Run one part; an error is recorded and the next part still runs."""
    try:
        work()
    except Exception as exc:
        report.put(f"{name}_error", f"{type(exc).__name__}: {exc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry", action="store_true", help="CPU, tiny transformer")
    parser.add_argument("--out", type=Path, default=ROOT / "gpu-check.json")
    parser.add_argument("--skip-tests", action="store_true", help="skip the tiny-model tests")
    parser.add_argument("--skip-cold-load", action="store_true")
    args = parser.parse_args()

    import diffusers
    import torch

    cuda = torch.cuda.is_available() and not args.dry
    if not cuda and not args.dry:
        sys.exit("no CUDA device: run with --dry for the CPU check of the script itself")
    device = "cuda" if cuda else "cpu"
    dtype = torch.bfloat16 if cuda else torch.float32
    report = Report(args.out)
    report.put(
        "machine",
        {
            "mode": "gpu" if cuda else "dry (CPU, tiny transformer: no GPU figures)",
            "device": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "diffusers": diffusers.__version__,
            "python": platform.python_version(),
        },
    )
    if not args.skip_tests:
        step(report, "tiny_model_tests", lambda: run_tiny_tests(report, device, 240))
    config = FULL_TRANSFORMER if cuda else TINY_TRANSFORMER
    started = time.monotonic()
    model = build_transformer(torch, config, device, dtype)
    parameters = sum(p.numel() for p in model.parameters())
    report.put(
        "transformer",
        {
            "config": "Qwen-Image-Edit-2511" if cuda else "tiny (tests/gpu)",
            "parameters": parameters,
            "dtype": str(dtype).removeprefix("torch."),
            "build_s": round(time.monotonic() - started, 1),
            "weights_gib": round(parameters * (2 if cuda else 4) / 2**30, 2),
        },
    )
    step(report, "denoising", lambda: time_denoising(report, torch, model, device, dtype))
    if not args.skip_cold_load:
        step(report, "cold_load", lambda: cold_load(report, torch, model, device, 240))
    report.put("finished_at", time.strftime("%Y-%m-%dT%H:%M:%SZ"))
    print(json.dumps(report.data, indent=2, default=str))


if __name__ == "__main__":
    main()
