"""Quality gate benchmark and calibration: verdicts, scores and CPU time per 1 MP output.

Run from the repository root: python bench/quality.py [--faces 16] [--only restore]
The evaluation photos (tests/harness/evaluation_photos.py: the photographs in the
scikit-image wheel and its LFW faces as portraits) are degraded six ways, scaled to 1 MP, and
stored as the prepared input is (JPEG q92). Each is checked against:
- faithful outputs, which must pass: the CPU stand-in's restore and restore+colorize, and the
  undamaged original (what an ideal restoration gives back); and the restore moved 2 % (the
  structure check allows 3 %), which must pass but is not timed;
- faulty outputs, which must fail: another photo's face pasted over the face (faces only), a
  blank image, a strip cut from it, a zoom to 80 %, a 6 % shift, and a different photograph.
CPU time is this thread's (`time.thread_time`). As the worker runs it, the input's half of the
gate (decode, luminance grid, faces and their embeddings: `profile_input`) is worked out once
per job, while the model runs, and each output's check reuses it; measured in the same run:
that per-output check, the input's profile once per job, the gate working the input out again
in every check (how it ran before), the decode alone and the gate without identity. Prints
tables and writes bench/results/quality.json.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any

from PIL import Image

# First: it puts the repository root on sys.path, for tests.harness.
import harness

# isort: split
from tests.harness.evaluation_photos import (
    DEGRADATIONS,
    Photo,
    at_one_megapixel,
    degrade,
    donor_crop,
    jpeg,
    lfw_portraits,
    photographs,
    png,
)

from heirloom.config import QualitySettings
from heirloom.devstack.output_faults import OutputFault, damage, paste_face
from heirloom.domain.errors import InternalError
from heirloom.domain.jobs import Operation
from heirloom.domain.quality import TryReport
from heirloom.gpu_handler.engines import CpuEngine
from heirloom.services.imaging.pipeline import decode_rgb
from heirloom.services.quality.gate import check_output, profile_input
from heirloom.services.quality.profile import Box

TARGET_P95_MS = 300.0
FAITHFUL = ("restored", "restored+colorized", "original")
# A faithful output moved within what the structure check allows: must pass, not timed.
MOVED = ("moved-2%",)
FAULTY = ("other-face", "blank", "cropped", "zoomed", "shifted", "other-photo")


def outputs(
    photo: Photo, prepared: Image.Image, donor: Photo, other: Photo
) -> dict[str, Image.Image]:
    """Every output the gate is shown for one prepared input."""
    engine = CpuEngine()
    restored = engine.apply(prepared, [Operation.RESTORE])
    w, h = prepared.size
    zoom = restored.crop((w // 10, h // 10, w - w // 10, h - h // 10)).resize(prepared.size)
    shifted = Image.new("RGB", prepared.size)
    shifted.paste(restored, (round(w * 0.06), 0))
    moved = Image.new("RGB", prepared.size)
    moved.paste(restored, (round(w * 0.02), round(h * 0.02)))
    made = {
        "restored": restored,
        "restored+colorized": engine.apply(prepared, [Operation.RESTORE, Operation.COLORIZE]),
        "original": photo.image.resize(prepared.size, Image.Resampling.BICUBIC),
        "moved-2%": moved,
        "blank": damage(restored, OutputFault.BLANK),
        "cropped": damage(restored, OutputFault.CROPPED),
        "zoomed": zoom,
        "shifted": shifted,
        "other-photo": other.image.resize(prepared.size, Image.Resampling.BICUBIC),
    }
    if photo.has_face:
        made["other-face"] = paste_face(restored, donor_crop(donor))
    return made


def _donor_box(photo: Photo) -> Box | None:
    from heirloom.services.quality.faces import face_models
    from heirloom.services.quality.identity import find_faces

    found = find_faces(photo.image, face_models(), detect_long_side=640)
    return found[0] if found else None


def timed(fn: Callable[[], Any]) -> float:
    started = time.thread_time()
    fn()
    return (time.thread_time() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=int, default=16, help="LFW portraits to include")
    parser.add_argument("--degradations", default=",".join(DEGRADATIONS))
    parser.add_argument("--photos", type=int, help="photographs to include (default: all)")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 1 photograph, 2 faces, faded only"
    )
    args = parser.parse_args()
    if args.quick:
        args.photos, args.faces, args.degradations = 1, 2, "faded"
    env = harness.environment()
    settings = QualitySettings()
    photos = [*photographs()[: args.photos], *lfw_portraits()[: args.faces]]
    faces = [p for p in photos if p.has_face]
    # Donors: faces dlib finds (a few LFW portraits' faces it does not).
    donors = [p for p in faces if _donor_box(p) is not None]
    rows: list[dict[str, Any]] = []
    cpu: dict[str, list[float]] = defaultdict(list)
    for index, photo in enumerate(photos):
        donor = donors[(faces.index(photo) + 1) % len(donors)] if photo.has_face else donors[0]
        if donor is photo:
            donor = donors[(donors.index(photo) + 1) % len(donors)]
        other = photos[(index + 1) % len(photos)]
        for degradation in args.degradations.split(","):
            prepared_bytes = jpeg(at_one_megapixel(degrade(photo, degradation)))
            prepared = decode_rgb(prepared_bytes, error=InternalError)
            profile = profile_input(prepared_bytes, settings)
            group = "with faces" if profile.faces and profile.faces.boxes else "without faces"
            cpu[f"input profile, once per job, {group}"].append(profile.cpu_ms)
            for kind, image in outputs(photo, prepared, donor, other).items():
                output = png(image)
                report = check_output(prepared_bytes, output, settings, profile=profile)
                rows.append(_row(photo, degradation, kind, report))
                if kind in FAITHFUL:
                    group = "with faces" if report.faces_found else "without faces"
                    cpu[f"gate per output, {group}"].append(report.cpu_ms)
                    cpu["gate per output, all"].append(report.cpu_ms)
                    whole = check_output(prepared_bytes, output, settings)
                    # Reusing the profile must change nothing but the cost.
                    assert _verdicts(whole) == _verdicts(report), (photo.name, kind)
                    cpu[f"before: input worked out in each check, {group}"].append(whole.cpu_ms)
                    cpu["baseline: decode input + output"].append(
                        timed(partial(_decode_both, prepared_bytes, output))
                    )
                    without = check_output(
                        prepared_bytes, output, settings, profile=profile, face_structure=False
                    )
                    cpu[f"without the face-region check, {group}"].append(without.cpu_ms)
                    cpu["baseline: sanity + structure"].append(
                        check_output(prepared_bytes, output, settings, identity=False).cpu_ms
                    )
        print(f"{photo.name}: done", flush=True)
    results = _summarise(rows, cpu, settings)
    results["environment"] = env
    results["photos"] = [p.name for p in photos]
    path = harness.write_results("quality", results)
    print(f"\nwrote {path}")


def _verdicts(report: TryReport) -> tuple[object, ...]:
    return (report.sanity, report.structure, report.identity, report.reason, report.faces_found)


def _decode_both(prepared: bytes, output: bytes) -> None:
    decode_rgb(prepared, error=InternalError)
    decode_rgb(output, error=InternalError)


def _row(photo: Photo, degradation: str, kind: str, report: TryReport) -> dict[str, Any]:
    return {
        "photo": photo.name,
        "degradation": degradation,
        "output": kind,
        "passed": report.passed,
        "usable": report.usable,
        "reason": report.reason.value if report.reason else None,
        "faces": report.faces_found,
        "identity_distance": report.identity_distance,
        "face_structure": report.face_structure_score,
        "structure_score": report.structure_score,
        "shift": report.shift,
        "cpu_ms": report.cpu_ms,
    }


def _summarise(
    rows: list[dict[str, Any]], cpu: dict[str, list[float]], settings: QualitySettings
) -> dict[str, Any]:
    table = []
    for kind in (*FAITHFUL, *MOVED, *FAULTY):
        mine = [r for r in rows if r["output"] == kind]
        if not mine:
            continue
        expected = kind not in FAULTY
        right = sum(1 for r in mine if r["passed"] == expected)
        reasons = sorted({r["reason"] for r in mine if r["reason"]})
        table.append([kind, "pass" if expected else "fail", len(mine), right / len(mine), reasons])
    print("\nverdicts (share as expected)")
    harness.print_table(["output", "expected", "n", "as expected", "reasons"], table)

    same = [r["identity_distance"] for r in rows if r["output"] in FAITHFUL and r["faces"]]
    swapped = [r["identity_distance"] for r in rows if r["output"] == "other-face" and r["faces"]]
    face_ok = [r["face_structure"] for r in rows if r["output"] in FAITHFUL and r["faces"]]
    face_bad = [r["face_structure"] for r in rows if r["output"] == "other-face" and r["faces"]]
    ssim_ok = [r["structure_score"] for r in rows if r["output"] in FAITHFUL]
    ssim_bad = {
        kind: [r["structure_score"] for r in rows if r["output"] == kind and r["structure_score"]]
        for kind in ("zoomed", "other-photo", "other-face")
    }
    calibration = {
        "identity_max_distance": settings.identity_max_distance,
        "same_person_distance": _spread(same),
        "other_person_distance": _spread(swapped),
        "face_structure_min_score": settings.face_structure_min_score,
        "same_person_face_structure": _spread(face_ok),
        "other_person_face_structure": _spread(face_bad),
        "structure_min_score": settings.structure_min_score,
        "faithful_structure_score": _spread(ssim_ok),
        **{f"{kind}_structure_score": _spread(v) for kind, v in ssim_bad.items()},
    }
    print("\ncalibration (min / p5 / p50 / p95 / max)")
    harness.print_table(
        ["figure", "n", "min", "p5", "p50", "p95", "max"],
        [
            [k, v["n"], v["min"], v["p5"], v["p50"], v["p95"], v["max"]]
            for k, v in calibration.items()
            if isinstance(v, dict)
        ],
    )
    timings = {name: _ms(values) for name, values in cpu.items()}
    print(f"\nCPU ms per 1 MP output (faithful outputs; target p95 <= {TARGET_P95_MS:.0f})")
    harness.print_table(
        ["what", "n", "p50", "p95", "max"],
        [[name, t["n"], t["p50"], t["p95"], t["max"]] for name, t in timings.items()],
    )
    return {"verdicts": table, "calibration": calibration, "cpu_ms": timings, "rows": rows}


def _spread(values: list[float]) -> dict[str, float]:
    values = [v for v in values if v is not None]
    if not values:
        return {
            "n": 0,
            "min": math.nan,
            "p5": math.nan,
            "p50": math.nan,
            "p95": math.nan,
            "max": math.nan,
        }
    return {
        "n": len(values),
        "min": min(values),
        "p5": harness.percentile(values, 5),
        "p50": harness.percentile(values, 50),
        "p95": harness.percentile(values, 95),
        "max": max(values),
    }


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": harness.percentile(values, 50),
        "p95": harness.percentile(values, 95),
        "max": max(values) if values else math.nan,
    }


if __name__ == "__main__":
    main()
