"""What the local endpoint's output faults do to a model's image: blank it, cut it to a strip,
or paste another photo's face over each of its faces (FaultSettings blank_output,
cropped_output, different_face), so every branch of the quality gate runs in the dev stack.

The pasted face is the astronaut Eileen Collins from NASA's public-domain portrait (the one
scikit-image ships as `astronaut`), cropped with a margin of 35 % of her face box per side.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from heirloom.services.quality.faces import face_models
from heirloom.services.quality.identity import find_faces
from heirloom.services.quality.profile import Box

DONOR_FACE = Path(__file__).with_name("donor_face.jpg")
# The donor crop's margin around its face box, per side, as a share of the box.
_DONOR_MARGIN = 0.35
# A blank output's grey: what a model that lost its image hands back.
_BLANK_GREY = (128, 128, 128)
# A cropped output keeps this share of the width, from the left.
_CROPPED_SHARE = 0.6
# Faces are looked for on a copy this long, as the gate does by default.
_DETECT_LONG_SIDE = 640


class OutputFault(StrEnum):
    BLANK = "blank"
    CROPPED = "cropped"
    DIFFERENT_FACE = "different_face"


def damage(image: Image.Image, fault: OutputFault, donor: Image.Image | None = None) -> Image.Image:
    """The model's image as the fault spoils it; `donor` is the face to paste (the bundled
    one by default)."""
    if fault is OutputFault.BLANK:
        return Image.new("RGB", image.size, _BLANK_GREY)
    if fault is OutputFault.CROPPED:
        return image.crop((0, 0, max(1, round(image.width * _CROPPED_SHARE)), image.height))
    return paste_face(image, donor if donor is not None else donor_face())


def paste_face(
    image: Image.Image, donor: Image.Image, boxes: list[Box] | None = None
) -> Image.Image:
    """`donor` (a face with a 35 % margin) blended over each face of `image`, or over its
    centre when it has none."""
    result = image.convert("RGB").copy()
    if boxes is None:
        boxes = find_faces(result, face_models(), detect_long_side=_DETECT_LONG_SIDE)
    if not boxes:
        side = min(result.size) // 3
        left, top = (result.width - side) // 2, (result.height - side) // 2
        boxes = [Box(left, top, left + side, top + side)]
    for box in boxes:
        target = box.expanded(_DONOR_MARGIN, result.width, result.height)
        size = (max(1, target.width), max(1, target.height))
        patch = donor.convert("RGB").resize(size, Image.Resampling.BICUBIC)
        result.paste(patch, (target.left, target.top), _feathered_oval(size))
    return result


@cache
def donor_face() -> Image.Image:
    with Image.open(DONOR_FACE) as face:
        return face.convert("RGB")


def _feathered_oval(size: tuple[int, int]) -> Image.Image:
    width, height = size
    mask = Image.new("L", size, 0)
    inset_x, inset_y = width // 10, height // 10
    ImageDraw.Draw(mask).ellipse((inset_x, inset_y, width - inset_x, height - inset_y), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(max(1, min(size) // 20)))
