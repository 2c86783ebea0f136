"""What a photo says about itself: format, size, colour, capture date and camera.

Only these fields are kept. GPS, owner names, serial numbers and the rest of EXIF are never
read into the record, and outputs are re-encoded without EXIF (imaging never passes it on).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any, Final

from PIL import Image, ImageChops, ImageOps, ImageStat

# EXIF tags: base IFD and the Exif sub-IFD.
_ORIENTATION: Final = 0x0112
_MAKE: Final = 0x010F
_MODEL: Final = 0x0110
_DATETIME: Final = 0x0132
_EXIF_IFD: Final = 0x8769
_DATETIME_ORIGINAL: Final = 0x9003
# Orientations that rotate by 90 degrees, so the upright width is the stored height.
_TRANSPOSED: Final = frozenset({5, 6, 7, 8})
# Mean channel spread (0..255) under which a colour-encoded photo looks black-and-white:
# scans of monochrome prints carry a faint tint (sepia, paper) well below it.
_GREY_SPREAD: Final = 6.0
_SAMPLE: Final = (64, 64)


def extract(data: bytes) -> dict[str, Any]:
    """The stored metadata of an upload already accepted by `imaging.probe_upload`."""
    with Image.open(io.BytesIO(data)) as img:
        exif = img.getexif()
        orientation = exif.get(_ORIENTATION, 1)
        width, height = img.size
        if orientation in _TRANSPOSED:
            width, height = height, width
        sub = exif.get_ifd(_EXIF_IFD)
        captured = _exif_datetime(sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME))
        camera = " ".join(
            part for part in (_text(exif.get(_MAKE)), _text(exif.get(_MODEL))) if part
        )
        return {
            "format": img.format,
            "width": width,
            "height": height,
            "mode": img.mode,
            "black_and_white": _looks_grey(img),
            "captured_at": captured,
            "camera": camera or None,
        }


def _looks_grey(img: Image.Image) -> bool | None:
    """Whether the pixels are (near) grey; None when they cannot be decoded."""
    if img.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return True
    img.draft("RGB", _SAMPLE)
    try:
        rgb = ImageOps.contain(img.convert("RGB"), _SAMPLE)
    except (OSError, SyntaxError, ValueError):
        return None  # a damaged body: the pipeline reports it as corrupt_image
    r, g, b = rgb.split()
    spread = ImageChops.lighter(ImageChops.difference(r, g), ImageChops.difference(g, b))
    return float(ImageStat.Stat(spread).mean[0]) < _GREY_SPREAD


def _text(value: object) -> str:
    return str(value).strip("\x00 ").strip()[:100] if value else ""


def _exif_datetime(value: object) -> str | None:
    """EXIF's 'YYYY:MM:DD HH:MM:SS' as ISO 8601 (no zone: EXIF has none); None if absent."""
    text = _text(value)
    try:
        return datetime.strptime(text, "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None
