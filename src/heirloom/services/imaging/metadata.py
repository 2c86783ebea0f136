"""What a photo says about itself: format, size, capture date and camera from its header, and
whether it is black-and-white from the worker's already-shrunk copy.

Only these fields are kept. GPS, owner names, serial numbers and the rest of EXIF are never
read into the record, and outputs are re-encoded without EXIF (imaging never passes it on).
Nothing here decodes an upload's pixels: the API reads headers only, before anything is paid.
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
_GREY_MODES: Final = frozenset({"1", "L", "LA", "I", "I;16", "F"})


def extract(data: bytes) -> dict[str, Any]:
    """The header's metadata of an upload already accepted by `imaging.probe_upload`; no pixel
    is decoded (the colour check is `looks_black_and_white`, on the worker)."""
    with Image.open(io.BytesIO(data)) as img:
        return from_header(img)


def from_header(img: Image.Image) -> dict[str, Any]:
    """`extract`'s fields from an image opened but not decoded (`imaging.probe_upload`'s)."""
    exif = _header_exif(img)
    orientation = exif.get(_ORIENTATION, 1)
    width, height = img.size
    if orientation in _TRANSPOSED:
        width, height = height, width
    sub = exif.get_ifd(_EXIF_IFD)
    captured = _exif_datetime(sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME))
    camera = " ".join(part for part in (_text(exif.get(_MAKE)), _text(exif.get(_MODEL))) if part)
    return {
        "format": img.format,
        "width": width,
        "height": height,
        "mode": img.mode,
        "captured_at": captured,
        "camera": camera or None,
    }


def looks_black_and_white(source_mode: str, shrunk: Image.Image) -> bool:
    """Whether a photo is (near) grey: stored in a grey mode, or its shrunk RGB copy (the
    model input the worker prepares) has next to no channel spread."""
    if source_mode in _GREY_MODES:
        return True
    rgb = ImageOps.contain(shrunk.convert("RGB"), _SAMPLE)
    r, g, b = rgb.split()
    spread = ImageChops.lighter(ImageChops.difference(r, g), ImageChops.difference(g, b))
    return float(ImageStat.Stat(spread).mean[0]) < _GREY_SPREAD


def _header_exif(img: Image.Image) -> Image.Exif:
    """EXIF found before the pixels. PNG's own getexif() decodes the whole image to look for a
    trailing eXIf chunk: a 124 KiB PNG can hold 40 MP, so only a leading chunk counts."""
    if img.format == "PNG":
        exif = Image.Exif()
        raw = img.info.get("exif")
        if isinstance(raw, bytes):
            exif.load(raw)
        return exif
    return img.getexif()


def _text(value: object) -> str:
    return str(value).strip("\x00 ").strip()[:100] if value else ""


def _exif_datetime(value: object) -> str | None:
    """EXIF's 'YYYY:MM:DD HH:MM:SS' as ISO 8601 (no zone: EXIF has none); None if absent."""
    text = _text(value)
    try:
        return datetime.strptime(text, "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None
