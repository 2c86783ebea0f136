"""The gate: sanity, then structure, then identity on one model output; the first failure ends
the checks (a blank or moved picture has no faces worth comparing). The input's half of the
work (`profile_input`) is done once per job and handed to each try's check."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

from heirloom.config import QualitySettings
from heirloom.domain.errors import InternalError, ModelFailed
from heirloom.domain.quality import Reason, TryReport, Verdict
from heirloom.services.imaging.pipeline import decode_rgb
from heirloom.services.quality.profile import InputProfile, input_digest
from heirloom.services.quality.sanity import check_sanity
from heirloom.services.quality.structure import check_structure

# The long side of the grid sanity and structure compare on: coarse enough that a restoration's
# new detail and removed grain count for little, fine enough for a 3 % move.
GRID_LONG_SIDE = 128
# A 3 x 3 median on the grid takes out thin lines, so a restoration that removed scratches
# still scores as the same picture (the worn photos' lowest score went from 0.16 to 0.30).
_MEDIAN = 3


def profile_input(
    prepared_input: bytes, settings: QualitySettings, *, identity: bool = True
) -> InputProfile:
    """What every check of outputs made from this input needs of it: its luminance grid and,
    when `identity`, its faces and their embeddings. The same for every try of a job."""
    started = time.thread_time()
    before = decode_rgb(prepared_input, error=InternalError)
    grid = luminance_grid(before, grid_size(before.size))
    faces = None
    if identity:
        from heirloom.services.quality.faces import face_models
        from heirloom.services.quality.identity import input_faces

        faces = input_faces(
            before,
            face_models(),
            detect_long_side=settings.detect_long_side,
            max_faces=settings.max_faces,
        )
    digest = input_digest(prepared_input)
    cpu_ms = (time.thread_time() - started) * 1000
    return InputProfile(digest, before.size, grid, faces, cpu_ms)


def check_output(
    prepared_input: bytes,
    model_output: bytes,
    settings: QualitySettings,
    *,
    identity: bool = True,
    profile: InputProfile | None = None,
    face_structure: bool = True,
) -> TryReport:
    """Check a model output against the prepared input it was made from.

    `identity=False` skips the face comparison (colour-only work that keeps the input's
    luminance). `profile`, the input's from `profile_input`, spares working it out again; an
    unmatching one (another input, or without the faces this check needs) is not used.
    `face_structure=False` leaves out the face-region comparison (for the bench's comparison
    with the gate before it; the worker never does).
    Returns the checks' verdicts with the CPU time they took on this thread.
    """
    started = time.thread_time()
    if not settings.enabled:
        return TryReport(Verdict.SKIPPED, Verdict.SKIPPED, Verdict.SKIPPED)
    if (
        profile is None
        or profile.digest != input_digest(prepared_input)
        or (identity and profile.faces is None)
    ):
        profile = profile_input(prepared_input, settings, identity=identity)
    try:
        after = decode_rgb(model_output, error=ModelFailed)
    except ModelFailed:
        return _report(started, Verdict.FAILED, reason=Reason.UNDECODABLE)
    input_grid = profile.grid
    output_grid = luminance_grid(after, (input_grid.shape[1], input_grid.shape[0]))
    sanity = check_sanity(
        output_grid,
        after.size,
        profile.size,
        blank_max_std=settings.blank_max_std,
        aspect_tolerance=settings.aspect_tolerance,
    )
    if sanity.verdict is Verdict.FAILED:
        return _report(started, Verdict.FAILED, reason=sanity.reason)
    structure = check_structure(
        input_grid,
        output_grid,
        min_score=settings.structure_min_score,
        max_shift=settings.max_shift,
    )
    score, shift = structure.score, structure.shift
    if structure.verdict is Verdict.FAILED:
        return _report(
            started,
            Verdict.PASSED,
            Verdict.FAILED,
            reason=structure.reason,
            structure_score=score,
            shift=shift,
        )
    if not identity or profile.faces is None:
        return _report(
            started,
            Verdict.PASSED,
            Verdict.PASSED,
            Verdict.SKIPPED,
            structure_score=score,
            shift=shift,
        )
    # dlib is imported here, not with this module: the API imports the activities (through the
    # starters and the workflow) but must not load dlib and its weights.
    from heirloom.services.quality.faces import face_models
    from heirloom.services.quality.identity import check_identity

    faces = check_identity(
        profile.faces,
        profile.size,
        lambda: np.asarray(decode_rgb(prepared_input, error=InternalError)),
        after,
        face_models(),
        detect_long_side=settings.detect_long_side,
        max_faces=settings.max_faces,
        max_distance=settings.identity_max_distance,
        min_face_structure=settings.face_structure_min_score if face_structure else None,
        max_shift=settings.max_shift,
    )
    return _report(
        started,
        Verdict.PASSED,
        Verdict.PASSED,
        faces.verdict,
        reason=faces.reason,
        faces_found=faces.faces_found,
        identity_distance=faces.distance,
        face_structure_score=faces.face_structure,
        structure_score=score,
        shift=shift,
    )


def grid_size(size: tuple[int, int]) -> tuple[int, int]:
    """The check grid for a picture of `size`: its aspect ratio, long side GRID_LONG_SIDE."""
    width, height = size
    scale = GRID_LONG_SIDE / max(width, height)
    return max(8, round(width * scale)), max(8, round(height * scale))


def luminance_grid(image: Image.Image, size: tuple[int, int]) -> npt.NDArray[np.float32]:
    """The picture's luminance (0..255) averaged down to `size`, thin lines taken out."""
    grey = image.convert("L").resize(size, Image.Resampling.BOX, reducing_gap=2.0)
    return np.asarray(grey.filter(ImageFilter.MedianFilter(_MEDIAN)), dtype=np.float32)


def _report(
    started: float,
    sanity: Verdict,
    structure: Verdict = Verdict.SKIPPED,
    identity: Verdict = Verdict.SKIPPED,
    *,
    reason: Reason | None = None,
    faces_found: int = 0,
    identity_distance: float | None = None,
    face_structure_score: float | None = None,
    structure_score: float | None = None,
    shift: float | None = None,
) -> TryReport:
    return TryReport(
        sanity=sanity,
        structure=structure,
        identity=identity,
        reason=reason,
        faces_found=faces_found,
        identity_distance=identity_distance,
        face_structure_score=face_structure_score,
        structure_score=structure_score,
        shift=shift,
        cpu_ms=(time.thread_time() - started) * 1000,
    )
