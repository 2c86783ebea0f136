"""Identity: the faces in the input still look like the same people in the output.

Faces are detected in the prepared input and in the output (each on a copy scaled to
`detect_long_side`, which bounds the cost) and matched by position; the input's faces and
their embeddings are found once per input (`input_faces`) and reused for every output. An
input face the output detection missed is looked for again near its place, else compared at
its place; an output face with no input face at its place (one the degradation hid, or one
pasted in) is compared with the input at that place. Each pair is compared twice: by the
distance of the faces' embeddings, and by the structure of the face's region (the input's
luminance there against the output's at the same place, as the structure check compares whole
pictures). A face pasted from another photo can embed close to the input's when both are
small and soft (an LFW face from a 25 px source in the worn Grace Hopper: 0.56), but its
region's shapes are another photo's (SSIM 0.10 there, faithful outputs 0.80 and above).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from heirloom.domain.quality import Reason, Verdict
from heirloom.services.quality.faces import FaceModels, Pixels
from heirloom.services.quality.profile import Box, Grid, InputFaces
from heirloom.services.quality.structure import similarities

# The output is searched this far around a face's expected box, per side, as a share of its size.
_SEARCH_MARGIN = 0.5
# The search region is scaled so the face is about this wide: the detector's 80 px window
# with room, and little more to scan.
_SEARCH_FACE_PX = 110
# A face found in the output counts as the same one when its centre is this close to the
# expected centre, as a share of the face's width.
_SAME_PLACE = 0.35
# A face's region for the structure comparison: its box grown by this share per side (the
# chin, hairline and ears, which a pasted face also covers), averaged down to a square grid
# this many pixels a side and 3 x 3 median-filtered (scratches and grain count for little).
_REGION_MARGIN = 0.2
_REGION_GRID = 24
_REGION_MEDIAN = 3
# The output's region is looked for this many grid cells around its place at most (a move of
# up to `max_shift` of the frame, which the structure check allows).
_REGION_MAX_STEPS = 6


@dataclass(frozen=True)
class IdentityResult:
    verdict: Verdict
    faces_found: int
    distance: float | None = None
    reason: Reason | None = None
    # The lowest face-region structure score (SSIM) over the compared faces.
    face_structure: float | None = None


def input_faces(
    input_rgb: Image.Image, models: FaceModels, *, detect_long_side: int, max_faces: int
) -> InputFaces:
    """The input's faces, and the embeddings of the largest `max_faces`: the half of the
    identity check that is the same for every output of one input."""
    boxes = find_faces(input_rgb, models, detect_long_side=detect_long_side)
    pixels = np.asarray(input_rgb)
    embeddings = tuple(models.embedding(pixels, box) for box in boxes[:max_faces])
    regions = tuple(face_region(input_rgb, box) for box in boxes[:max_faces])
    return InputFaces(tuple(boxes), embeddings, regions)


def check_identity(
    faces: InputFaces,
    input_size: tuple[int, int],
    input_pixels: Callable[[], Pixels],
    output_rgb: Image.Image,
    models: FaceModels,
    *,
    detect_long_side: int,
    max_faces: int,
    max_distance: float,
    min_face_structure: float | None,
    max_shift: float = 0.0,
) -> IdentityResult:
    """Compare the largest `max_faces` faces of either image with the other image's face at
    the same place: fail when an embedding distance is above `max_distance` or a face
    region's structure score below `min_face_structure`. `input_pixels` gives the input's
    pixels, asked for (once) only when an output face is at a place where no input face was
    found. `min_face_structure=None` leaves the region comparison out; `max_shift` is how far
    (a share of the frame) the output's face region may have moved."""
    pairs = matched_faces(
        list(faces.boxes), input_size, output_rgb, models, detect_long_side=detect_long_side
    )
    pairs = pairs[:max_faces]
    if not pairs:
        return IdentityResult(Verdict.SKIPPED, 0)
    after = np.asarray(output_rgb)
    sx, sy = output_rgb.width / input_size[0], output_rgb.height / input_size[1]
    input_rgb: list[Pixels] = []

    def before_pixels() -> Pixels:
        if not input_rgb:
            input_rgb.append(input_pixels())
        return input_rgb[0]

    distances, structures = [], []
    for face, placed in pairs:
        before = faces.embedding_of(face)
        if before is None:
            before = models.embedding(before_pixels(), face)
        distances.append(float(np.linalg.norm(before - models.embedding(after, placed))))
        if min_face_structure is None:
            continue
        region = faces.region_of(face)
        if region is None:
            region = face_region(Image.fromarray(before_pixels()), face)
        # The output's region at the input face's place, give or take the move the structure
        # check allows; not at the box found there, which a pasted face may shift.
        output_box = face.scaled(sx, sy)
        structures.append(region_similarity(region, output_rgb, output_box, max_shift))
    distance = max(distances)
    structure = min(structures) if structures else None
    if distance > max_distance or (
        min_face_structure is not None and structure is not None and structure < min_face_structure
    ):
        return IdentityResult(
            Verdict.FAILED, len(pairs), distance, Reason.DIFFERENT_FACE, structure
        )
    return IdentityResult(Verdict.PASSED, len(pairs), distance, face_structure=structure)


def face_region(image: Image.Image, box: Box, slack: tuple[int, int] = (0, 0)) -> Grid:
    """The luminance of a face's region (`box` grown by `_REGION_MARGIN`) on the small grid
    the face-region comparison uses, with `slack` grid cells more on each side (x, y); what
    lies outside the image reads black."""
    region = box.expanded(_REGION_MARGIN, image.width, image.height)
    cell_w = max(region.width, 1) / _REGION_GRID
    cell_h = max(region.height, 1) / _REGION_GRID
    sx, sy = slack
    crop = image.crop(
        (
            round(region.left - sx * cell_w),
            round(region.top - sy * cell_h),
            round(region.left + (_REGION_GRID + sx) * cell_w),
            round(region.top + (_REGION_GRID + sy) * cell_h),
        )
    )
    size = (_REGION_GRID + 2 * sx, _REGION_GRID + 2 * sy)
    grey = crop.convert("L").resize(size, Image.Resampling.BOX)
    return np.asarray(grey.filter(ImageFilter.MedianFilter(_REGION_MEDIAN)), dtype=np.float32)


def region_similarity(region: Grid, output_rgb: Image.Image, box: Box, max_shift: float) -> float:
    """The face-region structure score: SSIM of the input's region against the output's at
    `box`, the best over moves of up to `max_shift` of the frame (what the structure check
    lets a picture move), in whole grid cells."""
    expanded = box.expanded(_REGION_MARGIN, output_rgb.width, output_rgb.height)
    steps = [
        min(_REGION_MAX_STEPS, math.ceil(max_shift * side / max(length / _REGION_GRID, 1e-6)))
        for side, length in (
            (output_rgb.width, expanded.width),
            (output_rgb.height, expanded.height),
        )
    ]
    sx, sy = steps
    around = face_region(output_rgb, box, (sx, sy))
    n = _REGION_GRID
    windows = np.lib.stride_tricks.sliding_window_view(around, (n, n)).reshape(-1, n, n)
    return float(similarities(region, windows).max())


def matched_faces(
    found_before: list[Box],
    input_size: tuple[int, int],
    output_rgb: Image.Image,
    models: FaceModels,
    *,
    detect_long_side: int,
) -> list[tuple[Box, Box]]:
    """(input box, output box) for every face found in either image, largest first."""
    found_after = find_faces(output_rgb, models, detect_long_side=detect_long_side)
    sx, sy = output_rgb.width / input_size[0], output_rgb.height / input_size[1]
    pairs: list[tuple[Box, Box]] = []
    unmatched = list(found_after)
    after_grey: Image.Image | None = None
    for face in found_before:
        expected = face.scaled(sx, sy)
        placed = _nearest(expected, unmatched)
        if placed is not None:
            unmatched.remove(placed)
        else:
            if after_grey is None:
                after_grey = output_rgb.convert("L")
            placed = _find_near(after_grey, expected, models) or expected
        pairs.append((face, placed))
    pairs += [(face.scaled(1 / sx, 1 / sy), face) for face in unmatched]
    return sorted(pairs, key=lambda pair: pair[1].width * pair[1].height, reverse=True)


def find_faces(image: Image.Image, models: FaceModels, *, detect_long_side: int) -> list[Box]:
    """The image's frontal faces, largest first, found on a copy at most `detect_long_side`."""
    grey = image.convert("L")
    scale = min(1.0, detect_long_side / max(grey.size))
    if scale < 1.0:
        size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        grey = grey.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    found = models.detect(_pixels(grey))
    return [box.scaled(image.width / grey.width, image.height / grey.height) for box in found]


def _find_near(grey: Image.Image, expected: Box, models: FaceModels) -> Box | None:
    """The output's face closest to where the input's was, if one is there."""
    region = expected.expanded(_SEARCH_MARGIN, grey.width, grey.height)
    if region.width < 2 or region.height < 2:
        return None
    scale = _SEARCH_FACE_PX / max(expected.width, 1)
    crop = grey.crop((region.left, region.top, region.right, region.bottom))
    size = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
    crop = crop.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    found = [
        box.scaled(1 / scale, 1 / scale).moved(region.left, region.top)
        for box in models.detect(_pixels(crop))
    ]
    return _nearest(expected, found)


def _nearest(expected: Box, boxes: list[Box]) -> Box | None:
    """The box whose centre is closest to `expected`'s, if close enough to be the same face."""
    ex, ey = expected.centre
    nearest: tuple[float, Box] | None = None
    for box in boxes:
        cx, cy = box.centre
        gap = float(np.hypot(cx - ex, cy - ey))
        if gap <= _SAME_PLACE * expected.width and (nearest is None or gap < nearest[0]):
            nearest = (gap, box)
    return nearest[1] if nearest is not None else None


def _pixels(image: Image.Image) -> Pixels:
    return np.asarray(image, dtype=np.uint8)
