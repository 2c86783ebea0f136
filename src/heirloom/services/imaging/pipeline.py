"""All Pillow work of the pipeline: validate uploads, prepare the model input, derive the outputs.

Pure functions over bytes, safe to call from many threads at once: nothing here changes
Pillow's global state (MAX_IMAGE_PIXELS, warning filters, LOAD_TRUNCATED_IMAGES).
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, cast

import pillow_heif
from PIL import Image, ImageDraw, ImageFile, ImageFont, ImageOps, UnidentifiedImageError

from heirloom.domain.errors import (
    CorruptImage,
    HeirloomError,
    ImageTooLarge,
    ImageTooSmall,
    InternalError,
    ModelFailed,
    NotAnImage,
    UnsupportedFormat,
)
from heirloom.services.imaging import metadata as photo_metadata
from heirloom.services.imaging import provenance

# HEIC/HEIF (what phones save) through pillow-heif; Pillow reads AVIF itself. Only the primary
# image is read: no thumbnails, depth maps or auxiliary images are parsed or decoded.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

ALLOWED_FORMATS: Final = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "MPO", "HEIF", "AVIF")
# MPO (multi-picture JPEG, e.g. from phones) is opened and reported by the JPEG plugin; Pillow
# has no opener of that name and raises KeyError if formats= lists it.
_OPENERS: Final = tuple(fmt for fmt in ALLOWED_FORMATS if fmt != "MPO")
MIN_SIDE: Final = 32
THUMBNAIL_LONG_SIDE: Final = 256
COMPARISON_LONG_SIDE: Final = 1600

_EXTENSIONS: Final = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "TIFF": "tif",
    "BMP": "bmp",
    "HEIF": "heic",
    "AVIF": "avif",
}
# A restoration model upscales at most 4x a prepared input; anything bigger is a broken output.
_MODEL_OUTPUT_MAX_PIXELS: Final = 64_000_000
# Pillow's downscaling convolves over the whole source footprint, so even BILINEAR (a tent
# filter) does not alias. On a 12 MP photo -> 1280 px it is within 46 dB PSNR of a full-resolution
# LANCZOS, BICUBIC within 47 dB, while the JPEG q92 encode that follows is at 39 dB: the filter's
# difference is invisible, and BILINEAR saves ~10 ms a resize (bench/imaging.py).
_RESAMPLE: Final = Image.Resampling.BILINEAR
# reduce() by an integer factor first, then resample the last <= 2x: near-identical to a fair
# resample at a fraction of the cost (Pillow's documented trade-off for thumbnail()).
_REDUCING_GAP: Final = 2.0
_DIVIDER: Final = 4
_WHITE: Final = (255, 255, 255)
_DECODE_ERRORS: Final = (OSError, SyntaxError, ValueError, EOFError)


class _DecodeSlots:
    """The process-wide limit on decodes running at once (`image_decodes_at_once`): a decode
    holds up to a full photo's pixels, so what arrives at once waits instead of adding up."""

    def __init__(self, slots: int) -> None:
        self._slots = threading.BoundedSemaphore(slots)

    def resize(self, slots: int) -> None:
        # A decode holding the old semaphore releases it; new decodes take the new one.
        self._slots = threading.BoundedSemaphore(slots)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        slots = self._slots
        with slots:
            yield


_DECODES: Final = _DecodeSlots(2)


def limit_decodes(slots: int) -> None:
    """Set how many decodes this process runs at once (Services.build applies the setting)."""
    _DECODES.resize(slots)


@dataclass(frozen=True)
class ImageInfo:
    """An upload's header: Pillow format, stored size (before EXIF rotation), file extension,
    and the photo metadata the job keeps (metadata.extract's fields, from the same parse)."""

    format: str
    width: int
    height: int
    extension: str
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class PreparedImage:
    """The model input: an RGB JPEG whose long side fits the tier's limit, and whether the
    photo looks black-and-white (judged on this shrunk copy, never on the full upload)."""

    data: bytes = field(repr=False)
    width: int
    height: int
    black_and_white: bool = False


@dataclass(frozen=True)
class PostProcessed:
    """Deliverables of one job: result, thumbnail and before/after comparison, all JPEG."""

    result: bytes = field(repr=False)
    thumbnail: bytes = field(repr=False)
    comparison: bytes = field(repr=False)
    width: int
    height: int


def probe_upload(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Check an upload from its header alone; raise a user error if it cannot be restored.
    The header's metadata comes with it: one parse, no pixel decoded."""
    img = _open(data, max_pixels=max_pixels)
    fmt = img.format
    if fmt not in _EXTENSIONS:  # only if a plugin in the allow-list reports a new format name
        raise UnsupportedFormat(format=fmt)
    return ImageInfo(
        format=fmt,
        width=img.width,
        height=img.height,
        extension=_EXTENSIONS[fmt],
        metadata=photo_metadata.from_header(img),
    )


def prepare_input(
    data: bytes, *, long_side: int, max_pixels: int, short_side: int | None = None
) -> PreparedImage:
    """Decode an upload upright, in RGB, within the long_side x short_side frame, as JPEG q92.

    Without short_side only the long side is bounded (jobs submitted before frames existed).
    """
    img = _open(data, max_pixels=max_pixels)
    source_mode = img.mode
    rgb = _decode(img, _fit(img.size, long_side, short_side), CorruptImage)
    return PreparedImage(
        data=_jpeg(rgb, 92),
        width=rgb.width,
        height=rgb.height,
        black_and_white=photo_metadata.looks_black_and_white(source_mode, rgb),
    )


def decode_rgb(data: bytes, *, error: type[HeirloomError]) -> Image.Image:
    """A model output or prepared input decoded at full size, upright, in RGB; `error` if it
    is not an allowed, readable image within the model output's size limit."""
    try:
        img = _open(data, max_pixels=_MODEL_OUTPUT_MAX_PIXELS)
    except HeirloomError as exc:
        raise error(reason=exc.code) from exc
    return _decode(img, img.size, error)


def postprocess(
    model_output: bytes,
    before: bytes,
    *,
    long_side: int,
    watermark: bool,
    watermark_text: str = "Heirloom",
    short_side: int | None = None,
    keep_input_luminance: bool = False,
) -> PostProcessed:
    """Turn the model's image into the result, a thumbnail and a before|after comparison.

    With `keep_input_luminance` (colourize-only jobs) the result takes its brightness and
    detail from `before` and only its colour from the model: faces cannot drift.
    """
    try:
        out = _open(model_output, max_pixels=_MODEL_OUTPUT_MAX_PIXELS)
    except HeirloomError as exc:
        raise ModelFailed(reason=exc.code) from exc
    after = _decode(out, _fit(out.size, long_side, short_side), ModelFailed)
    try:
        before_img = _open(before, max_pixels=_MODEL_OUTPUT_MAX_PIXELS)
    except HeirloomError as exc:
        raise InternalError(reason=exc.code) from exc
    if keep_input_luminance:
        after = with_luminance_of(_decode(before_img, after.size, InternalError), after)
        before_img = _open(before, max_pixels=_MODEL_OUTPUT_MAX_PIXELS)

    # Both derive from the clean result: a 256 px preview leaks nothing worth a watermark, and
    # the comparison gets one watermark across the whole canvas rather than one per half.
    thumbnail = _resize(after, _fit(after.size, THUMBNAIL_LONG_SIDE))
    comparison = _comparison(before_img, after, watermark_text if watermark else None)
    if watermark:
        _watermark(after, watermark_text)
    return PostProcessed(
        result=_jpeg(after, 90, xmp=provenance.XMP),
        thumbnail=_jpeg(thumbnail, 80),
        comparison=_jpeg(comparison, 85, xmp=provenance.XMP),
        width=after.width,
        height=after.height,
    )


def with_luminance_of(source: Image.Image, colour: Image.Image) -> Image.Image:
    """`colour`'s chroma over `source`'s luminance (YCbCr, both RGB of one size)."""
    _, cb, cr = colour.convert("YCbCr").split()
    return Image.merge("YCbCr", (source.convert("L"), cb, cr)).convert("RGB")


def _open(data: bytes, *, max_pixels: int) -> ImageFile.ImageFile:
    """Parse the header with the allow-list and enforce the size limits before any decoding."""
    # Mutating Image.MAX_IMAGE_PIXELS or warning filters (warnings.catch_warnings) per call
    # races between threads, so the global stays a backstop: Pillow raises
    # DecompressionBombError above twice it, and capping our own limit at it rejects everything
    # that could have triggered its DecompressionBombWarning, whatever the filters do with it.
    limit = max_pixels
    if Image.MAX_IMAGE_PIXELS is not None:
        limit = min(limit, Image.MAX_IMAGE_PIXELS)
    try:
        img = Image.open(io.BytesIO(data), formats=_OPENERS)
    except UnidentifiedImageError:
        raise _unidentified(data) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(limit) from exc
    except _DECODE_ERRORS as exc:
        raise CorruptImage() from exc
    width, height = img.size
    if width * height > limit:
        raise _too_large(limit, width, height)
    if min(width, height) < MIN_SIDE:
        raise ImageTooSmall(width=width, height=height)
    return img


def _unidentified(data: bytes) -> HeirloomError:
    """Tell a damaged allowed image from another format from a non-image, by magic bytes only."""
    # Only the plugins' prefix checks run here; parsing with every plugin is what the allow-list
    # exists to avoid.
    if len(data) < 16:  # no image is that short, and some prefix checks index past the end
        return NotAnImage()
    Image.init()
    prefix = data[:16]
    matches = [name for name, (_, accept) in Image.OPEN.items() if accept and accept(prefix)]
    if any(name in ALLOWED_FORMATS for name in matches):
        return CorruptImage()
    if matches:
        return UnsupportedFormat(format=matches[0])
    return NotAnImage()


def _too_large(limit: int, width: int | None = None, height: int | None = None) -> ImageTooLarge:
    megapixels = f"{limit / 1_000_000:.0f}"
    if width is None or height is None:
        return ImageTooLarge(
            f"The photo is larger than {megapixels} megapixels. Please upload a smaller one.",
            max_pixels=limit,
        )
    return ImageTooLarge(
        f"The photo is {width}x{height} pixels; the limit is {megapixels} megapixels. "
        "Please upload a smaller one.",
        width=width,
        height=height,
        max_pixels=limit,
    )


def _fit(size: tuple[int, int], long_side: int, short_side: int | None = None) -> tuple[int, int]:
    """The size within a long_side x short_side frame in the photo's own orientation, aspect
    kept; never larger than size. Without short_side only the long side is bounded."""
    width, height = size
    scale = long_side / max(width, height)
    if short_side is not None:
        scale = min(scale, short_side / min(width, height))
    if scale >= 1:
        return size
    return max(1, round(width * scale)), max(1, round(height * scale))


def _decode(
    img: ImageFile.ImageFile, size: tuple[int, int], error: type[HeirloomError]
) -> Image.Image:
    """Decode to exactly size, upright and in RGB, touching as few full-size pixels as we can;
    one of the process's decode slots is held meanwhile."""
    try:
        with _DECODES.held():
            return _decoded(img, size)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise error(reason="decompression_bomb") from exc
    except _DECODE_ERRORS as exc:
        raise error() from exc


def _decoded(img: ImageFile.ImageFile, size: tuple[int, int]) -> Image.Image:
    # JPEG only: the DCT decodes straight at 1/2, 1/4 or 1/8 scale, still covering size.
    # Must run before anything loads the pixels.
    draft = img.draft("RGB", size)
    box = draft[1] if draft else None
    decoded = _resizable(img)
    resized = decoded if decoded.size == size else _resize(decoded, size, box)
    # Rotating after the downscale moves fewer pixels; the EXIF travels with the resize.
    ImageOps.exif_transpose(resized, in_place=True)
    return _to_rgb(resized)


def _resizable(img: Image.Image) -> Image.Image:
    """Load into a mode that resamples properly (P and 1 would fall back to NEAREST)."""
    if img.mode == "P":
        return img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode == "PA":
        return img.convert("RGBA")
    if img.mode == "1":
        return img.convert("L")
    if img.mode.startswith("I;16"):
        return img.convert("I")
    img.load()
    return img


def _resize(
    img: Image.Image,
    size: tuple[int, int],
    box: tuple[float, float, float, float] | None = None,
) -> Image.Image:
    return img.resize(size, _RESAMPLE, box=box, reducing_gap=_REDUCING_GAP)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any decoded mode to 8-bit RGB; transparency is flattened on white, like paper."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA"):
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        flat = Image.new("RGB", img.size, _WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if img.mode in ("I", "F"):
        img = _to_8bit(img)
    return img.convert("RGB")


def _to_8bit(img: Image.Image) -> Image.Image:
    """Map 16/32-bit integer or float grey to L by its nominal range; convert() would clip."""
    lo, hi = cast(tuple[float, float], img.getextrema())  # one band: a (min, max) pair
    if img.mode == "F" and lo >= 0 and hi <= 1:
        lo, hi = 0.0, 1.0
    elif lo >= 0 and hi <= 255:
        lo, hi = 0.0, 255.0
    elif lo >= 0 and hi <= 65535:
        lo, hi = 0.0, 65535.0
    scale = 255 / (hi - lo) if hi > lo else 1.0
    offset = -lo * scale
    return img.point(lambda v: v * scale + offset).convert("L")


def _jpeg(img: Image.Image, quality: int, *, xmp: bytes | None = None) -> bytes:
    # optimize=True saves ~7% of bytes but doubles encode time; progressive costs more still.
    buf = io.BytesIO()
    if xmp is None:
        img.save(buf, "JPEG", quality=quality, optimize=False)
    else:
        img.save(buf, "JPEG", quality=quality, optimize=False, xmp=xmp)
    return buf.getvalue()


def result_as_png(result: bytes) -> bytes:
    """A stored result (JPEG) as a PNG: the same pixels, nothing lost on the way, with the
    result's AI note as PNG text and XMP. The result is already within the tier's frame."""
    img = decode_rgb(result, error=InternalError)
    buf = io.BytesIO()
    # compress_level 1: the pixels are the same at any level, and 6 (the default) costs ~4x.
    img.save(buf, "PNG", pnginfo=provenance.png_info(), compress_level=1)
    return buf.getvalue()


def _comparison(
    before: ImageFile.ImageFile, after: Image.Image, watermark: str | None
) -> Image.Image:
    """Before and after side by side at one height, labelled, long side at most 1600."""
    before_aspect = before.width / before.height
    after_aspect = after.width / after.height
    height = min(
        after.height,
        COMPARISON_LONG_SIDE,
        math.floor((COMPARISON_LONG_SIDE - _DIVIDER) / (before_aspect + after_aspect)),
    )
    left = _decode(before, (max(1, round(height * before_aspect)), height), InternalError)
    right_size = (max(1, round(height * after_aspect)), height)
    right = after if after.size == right_size else _resize(after, right_size)

    canvas = Image.new("RGB", (left.width + _DIVIDER + right.width, height), _WHITE)
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + _DIVIDER, 0))
    label_size = max(12, height // 28)
    margin = label_size // 2
    for text, x in (("Before", margin), ("After", left.width + _DIVIDER + margin)):
        tile = _label_tile(text, label_size)
        canvas.paste(tile, (x, height - tile.height - margin), tile)
    if watermark is not None:
        _watermark(canvas, watermark)
    return canvas


def _watermark(img: Image.Image, text: str) -> None:
    """Tile semi-transparent diagonal text over the whole image, in place."""
    tile = _watermark_tile(text, max(16, min(img.size) // 10))
    step_x = tile.width * 3 // 2
    for row, y in enumerate(range(-tile.height // 3, img.height, tile.height)):
        # Offsetting every other row leaves no clean vertical strip to crop out.
        for x in range(-(step_x // 2) * (row % 2), img.width, step_x):
            img.paste(tile, (x, y), tile)


# The cached tiles are shared between threads but only ever read (paste sources and masks).
# Fonts are built per tile, never shared: FreeType faces are not meant for concurrent use.
@lru_cache(maxsize=64)
def _watermark_tile(text: str, size: int) -> Image.Image:
    """White text with a dark outline, both semi-transparent so it reads on light and dark."""
    font = ImageFont.load_default(size=size)
    stroke = max(1, size // 16)
    left, top, right, bottom = (math.ceil(v) for v in font.getbbox(text, stroke_width=stroke))
    tile = Image.new("RGBA", (right - left, bottom - top), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text(
        (-left, -top),
        text,
        font=font,
        fill=(255, 255, 255, 110),
        stroke_width=stroke,
        stroke_fill=(0, 0, 0, 80),
    )
    return tile.rotate(30, Image.Resampling.BICUBIC, expand=True)


@lru_cache(maxsize=64)
def _label_tile(text: str, size: int) -> Image.Image:
    """White text on a translucent dark pill."""
    font = ImageFont.load_default(size=size)
    pad = max(3, size // 3)
    left, top, right, bottom = (math.ceil(v) for v in font.getbbox(text))
    tile = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), (0, 0, 0, 0))
    draw = ImageDraw.Draw(tile)
    draw.rounded_rectangle((0, 0, tile.width - 1, tile.height - 1), pad, fill=(0, 0, 0, 150))
    draw.text((pad - left, pad - top), text, font=font, fill=(255, 255, 255, 255))
    return tile
