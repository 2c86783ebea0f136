"""Imaging benchmark: services.imaging.pipeline beside a naive Pillow pipeline, step by step.

Run from the repository root: PYTHONPATH=src python bench/imaging.py [--reps 15]
Each path runs in its own subprocess pinned to one core, so timings and peak RSS do not mix;
prints a table and writes bench/results/imaging.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import PIL
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps, features

from heirloom.domain.errors import ModelFailed
from heirloom.services.imaging import pipeline as imaging

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results") / "imaging.json"
MAX_PIXELS = 50_000_000
TARGET_MS = 150.0
TARGET_RSS_MB = 200.0
PATHS = ("fast", "naive")


def photo(width: int, height: int, seed: int = 1) -> Image.Image:
    """A photo-like RGB image: smooth gradients, soft-edged shapes and grain, never flat."""
    rnd = random.Random(seed)
    gradient = Image.linear_gradient("L")
    bands = (
        gradient.resize((width, height)),
        gradient.rotate(90).resize((width, height)),
        Image.radial_gradient("L").resize((width, height)),
    )
    img = Image.merge("RGB", bands)
    draw = ImageDraw.Draw(img)
    short = min(width, height)
    for _ in range(40):
        x, y = rnd.randrange(width), rnd.randrange(height)
        side = rnd.randrange(short // 20, short // 4)
        colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
        shape((x, y, x + side, y + side * 2 // 3), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(2))
    grain = Image.effect_noise((width, height), 48).convert("RGB")
    return Image.blend(img, grain, 0.18)


def write_fixtures(directory: Path) -> dict[str, int]:
    """A 12 MP JPEG upload (q90, like a phone's) and a 2 MP PNG standing in for the model output."""
    sizes = {}
    for name, size, fmt, seed in (
        ("upload.jpg", (4000, 3000), "JPEG", 1),
        ("model.png", (1732, 1155), "PNG", 2),
    ):
        buf = io.BytesIO()
        photo(*size, seed=seed).save(buf, fmt, quality=90)
        (directory / name).write_bytes(buf.getvalue())
        sizes[name] = len(buf.getvalue())
    return sizes


# --- the naive pipeline: full decode, defensive copies, LANCZOS from full size ------------------


def naive_load(data: bytes, long_side: int) -> Image.Image:
    opened = Image.open(io.BytesIO(data))
    opened.load()
    img = ImageOps.exif_transpose(opened.copy()).convert("RGB")
    return img.resize(imaging._fit(img.size, long_side), Image.Resampling.LANCZOS)


def naive_jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def naive_watermark(img: Image.Image, text: str) -> Image.Image:
    size = max(16, min(img.size) // 10)
    font = ImageFont.load_default(size=size)
    layer = Image.new("RGBA", (int(font.getlength(text)) + 8, size + 16))
    ImageDraw.Draw(layer).text(
        (4, 4),
        text,
        font=font,
        fill=(255, 255, 255, 110),
        stroke_width=4,
        stroke_fill=(0, 0, 0, 80),
    )
    layer = layer.rotate(30, Image.Resampling.BICUBIC, expand=True)
    overlay = Image.new("RGBA", img.size)
    for y in range(0, img.height, layer.height):
        for x in range(0, img.width, layer.width * 3 // 2):
            overlay.alpha_composite(layer, (x, y))
    return Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")


def naive_thumbnail(img: Image.Image) -> Image.Image:
    return img.copy().resize(imaging._fit(img.size, 256), Image.Resampling.LANCZOS)


def naive_comparison(before: bytes, after: Image.Image) -> Image.Image:
    left = naive_load(before, 10**9)
    height = min(after.height, 1596 * after.height // (left.width + after.width))
    left = left.resize((left.width * height // left.height, height), Image.Resampling.LANCZOS)
    right = after.copy().resize(
        (after.width * height // after.height, height), Image.Resampling.LANCZOS
    )
    canvas = Image.new("RGB", (left.width + 4 + right.width, height), (255, 255, 255))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + 4, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(12, height // 28))
    draw.text((10, height - 30), "Before", font=font, fill=(255, 255, 255))
    draw.text((left.width + 14, height - 30), "After", font=font, fill=(255, 255, 255))
    return naive_watermark(canvas, "Heirloom")


def naive_postprocess(model: bytes, before: bytes, long_side: int) -> tuple[bytes, bytes, bytes]:
    after = naive_load(model, long_side)
    thumbnail = naive_thumbnail(after)
    comparison = naive_comparison(before, after)
    result = naive_watermark(after, "Heirloom")
    return naive_jpeg(result, 90), naive_jpeg(thumbnail, 80), naive_jpeg(comparison, 85)


# --- measuring ------------------------------------------------------------------------------


def steps(path: str, upload: bytes, model: bytes) -> dict[str, Callable[[], object]]:
    """Each step of one path as a thunk; the comparison input is the path's own prepared JPEG."""
    if path == "fast":
        before = imaging.prepare_input(upload, long_side=1280, max_pixels=MAX_PIXELS).data

        def decoded() -> Image.Image:
            out = imaging._open(model, max_pixels=MAX_PIXELS)
            return imaging._decode(out, imaging._fit(out.size, 1280), ModelFailed)

        after = decoded()

        def full_path() -> object:
            prepared = imaging.prepare_input(upload, long_side=1280, max_pixels=MAX_PIXELS)
            return imaging.postprocess(model, prepared.data, long_side=1280, watermark=True)

        return {
            "upload 12MP jpeg: prepare -> 1280": lambda: imaging.prepare_input(
                upload, long_side=1280, max_pixels=MAX_PIXELS
            ),
            "upload 12MP jpeg: prepare -> 854": lambda: imaging.prepare_input(
                upload, long_side=854, max_pixels=MAX_PIXELS
            ),
            "upload 2MP png: prepare -> 1280": lambda: imaging.prepare_input(
                model, long_side=1280, max_pixels=MAX_PIXELS
            ),
            "upload 2MP png: prepare -> 854": lambda: imaging.prepare_input(
                model, long_side=854, max_pixels=MAX_PIXELS
            ),
            "post: decode model png -> 1280": decoded,
            # The copy (~0.3 ms) keeps every repetition on a clean image.
            "post: watermark 1280": lambda: imaging._watermark(after.copy(), "Heirloom"),
            "post: thumbnail 256": lambda: imaging._resize(after, imaging._fit(after.size, 256)),
            "post: comparison (watermarked)": lambda: imaging._comparison(
                imaging._open(before, max_pixels=MAX_PIXELS), after, "Heirloom"
            ),
            "post: postprocess total": lambda: imaging.postprocess(
                model, before, long_side=1280, watermark=True
            ),
            "FULL 12MP path (prepare + postprocess)": full_path,
        }

    before = naive_jpeg(naive_load(upload, 1280), 92)
    after = naive_load(model, 1280)

    def naive_full_path() -> object:
        prepared = naive_jpeg(naive_load(upload, 1280), 92)
        return naive_postprocess(model, prepared, 1280)

    return {
        "upload 12MP jpeg: prepare -> 1280": lambda: naive_jpeg(naive_load(upload, 1280), 92),
        "upload 12MP jpeg: prepare -> 854": lambda: naive_jpeg(naive_load(upload, 854), 92),
        "upload 2MP png: prepare -> 1280": lambda: naive_jpeg(naive_load(model, 1280), 92),
        "upload 2MP png: prepare -> 854": lambda: naive_jpeg(naive_load(model, 854), 92),
        "post: decode model png -> 1280": lambda: naive_load(model, 1280),
        "post: watermark 1280": lambda: naive_watermark(after, "Heirloom"),
        "post: thumbnail 256": lambda: naive_thumbnail(after),
        "post: comparison (watermarked)": lambda: naive_comparison(before, after),
        "post: postprocess total": lambda: naive_postprocess(model, before, 1280),
        "FULL 12MP path (prepare + postprocess)": naive_full_path,
    }


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def hwm_mb() -> float:
    """The kernel's VmHWM: the same peak, but of this process image only (reset by exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(path: str, fixtures: Path, reps: int) -> dict[str, Any]:
    """Time every step of one path on one core; report medians and the process's peak RSS."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    upload = (fixtures / "upload.jpg").read_bytes()
    model = (fixtures / "model.png").read_bytes()
    baseline = rss_mb()
    medians: dict[str, float] = {}
    for name, step in steps(path, upload, model).items():
        step()  # warm-up: font tiles, plugin imports, allocator
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            step()
            times.append((time.perf_counter() - start) * 1000)
        medians[name] = round(statistics.median(times), 1)
    return {
        "ms": medians,
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(rss_mb(), 1),
        "peak_vmhwm_mb": round(hwm_mb(), 1),
    }


def run_child(*args: str) -> Any:
    """Run this script in a fresh interpreter and parse the JSON it prints."""
    # ru_maxrss survives fork and exec, so the parent stays small: it never holds an image.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])
        ),
    }
    command = [sys.executable, __file__, *args]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--fixtures", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        print(json.dumps(write_fixtures(args.generate)))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.fixtures, args.reps)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        sizes = run_child("--generate", tmp)
        runs = {
            path: run_child("--worker", path, "--fixtures", tmp, "--reps", str(args.reps))
            for path in PATHS
        }

    fast, naive = runs["fast"], runs["naive"]
    print(f"{'step (median ms, 1 core)':44} {'fast':>8} {'naive':>8} {'speed-up':>9}")
    for name, fast_ms in fast["ms"].items():
        naive_ms = naive["ms"][name]
        print(f"{name:44} {fast_ms:8.1f} {naive_ms:8.1f} {naive_ms / fast_ms:8.1f}x")
    for key in ("baseline_rss_mb", "peak_rss_mb", "peak_vmhwm_mb"):
        print(f"{key:44} {fast[key]:8.1f} {naive[key]:8.1f}")
    full = fast["ms"]["FULL 12MP path (prepare + postprocess)"]
    verdict = full <= TARGET_MS and fast["peak_rss_mb"] <= TARGET_RSS_MB
    met = "met" if verdict else "MISSED"
    print(f"target <= {TARGET_MS:.0f} ms and <= {TARGET_RSS_MB:.0f} MB peak RSS: {met}")

    report = {
        "reps": args.reps,
        "fixtures_bytes": sizes,
        "environment": {
            "python": platform.python_version(),
            "pillow": PIL.__version__,
            "libjpeg_turbo": features.version("libjpeg_turbo"),
            "zlib": features.version("zlib"),
            "machine": platform.machine(),
            "cpu": cpu_model(),
        },
        "targets": {"full_path_ms": TARGET_MS, "peak_rss_mb": TARGET_RSS_MB, "met": verdict},
        **runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
