"""Imaging: upload checks, model-input preparation and deliverables, on generated images only."""

from __future__ import annotations

import io
import math
import random
import struct
import warnings
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageStat

from heirloom.domain.errors import (
    CorruptImage,
    HeirloomError,
    ImageTooLarge,
    ImageTooSmall,
    ModelFailed,
    NotAnImage,
    UnsupportedFormat,
)
from heirloom.services.imaging.pipeline import postprocess, prepare_input, probe_upload

MAX_PIXELS = 50_000_000


@cache
def photo(width: int, height: int, seed: int = 7) -> Image.Image:
    """A photo-like RGB image: gradients, soft-edged shapes and grain. Treat as read-only."""
    rnd = random.Random(seed)
    gradient = Image.linear_gradient("L")
    img = Image.merge(
        "RGB",
        (
            gradient.resize((width, height)),
            gradient.rotate(90).resize((width, height)),
            Image.radial_gradient("L").resize((width, height)),
        ),
    )
    draw = ImageDraw.Draw(img)
    short = min(width, height)
    for _ in range(12):
        x, y = rnd.randrange(width), rnd.randrange(height)
        side = rnd.randrange(short // 10, short // 3)
        colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        draw.ellipse((x, y, x + side, y + side * 2 // 3), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(1))
    # Seeded grain: Image.effect_noise ignores seeds; this grain is
    # reproducible byte for byte.
    grain = Image.frombytes("L", (width, height), rnd.randbytes(width * height))
    grain = grain.point(lambda v: 128 + (v - 128) * 40 // 74)  # sigma 40, as effect_noise
    return Image.blend(img, grain.convert("RGB"), 0.12)


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0..255."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / len(a.getbands())


def psnr(a: Image.Image, b: Image.Image) -> float:
    squared = sum(ImageStat.Stat(ImageChops.difference(a, b)).sum2)
    return 10 * math.log10(255**2 * a.width * a.height * len(a.getbands()) / squared)


def changed_fraction(a: Image.Image, b: Image.Image, threshold: int = 24) -> float:
    """Share of pixels where some channel moved by more than threshold."""
    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > threshold else 0)
    return ImageStat.Stat(diff).mean[0] / 255


def darkest(img: Image.Image) -> float:
    """The lowest value of any channel: above ~235 means the area is white."""
    return min(low for low, _ in ImageStat.Stat(img).extrema)


def png_header(width: int, height: int) -> bytes:
    """A PNG declaring the given size whose pixel data is garbage: opening it must not decode."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"garbage")
        + chunk(b"IEND", b"")
    )


def prepared(data: bytes, long_side: int = 1280) -> Image.Image:
    result = prepare_input(data, long_side=long_side, max_pixels=MAX_PIXELS)
    img = decode(result.data)
    assert img.format == "JPEG"
    assert img.mode == "RGB"
    assert img.size == (result.width, result.height)
    return img


# --- probe_upload -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "extension"),
    [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("TIFF", "tif"), ("BMP", "bmp")],
)
def test_probe_reports_format_size_and_extension(fmt: str, extension: str) -> None:
    info = probe_upload(encode(photo(120, 80), fmt), max_pixels=MAX_PIXELS)

    assert (info.format, info.width, info.height, info.extension) == (fmt, 120, 80, extension)


def test_multi_picture_jpeg_from_phones_is_accepted() -> None:
    frame = photo(120, 80)
    data = encode(frame, "MPO", save_all=True, append_images=[frame])

    info = probe_upload(data, max_pixels=MAX_PIXELS)

    assert (info.format, info.extension) == ("MPO", "jpg")
    assert prepared(data).size == (120, 80)


def test_probe_rejects_text_as_not_an_image() -> None:
    with pytest.raises(NotAnImage):
        probe_upload(b"Dear grandma, here are the holiday photos.\n" * 20, max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("fmt", ["GIF", "ICO"])
def test_probe_rejects_other_image_formats_as_unsupported(fmt: str) -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        probe_upload(encode(photo(64, 64), fmt), max_pixels=MAX_PIXELS)

    assert caught.value.details["format"] == fmt


def test_probe_rejects_a_damaged_header_of_an_allowed_format_as_corrupt() -> None:
    with pytest.raises(CorruptImage):
        probe_upload(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, max_pixels=MAX_PIXELS)


def test_probe_rejects_a_huge_declared_size_without_decoding() -> None:
    with pytest.raises(ImageTooLarge) as caught:
        probe_upload(png_header(9000, 9000), max_pixels=MAX_PIXELS)

    assert caught.value.details == {"width": 9000, "height": 9000, "max_pixels": MAX_PIXELS}


def test_prepare_rejects_a_huge_declared_size_before_decoding() -> None:
    with pytest.raises(ImageTooLarge):
        prepare_input(png_header(9000, 9000), long_side=1280, max_pixels=MAX_PIXELS)


def test_pillow_decompression_bomb_error_becomes_too_large() -> None:
    with pytest.raises(ImageTooLarge):
        probe_upload(png_header(100_000, 100_000), max_pixels=10**12)


def test_pillow_decompression_bomb_warning_becomes_too_large_even_as_an_error() -> None:
    # 10000x10000 is above Image.MAX_IMAGE_PIXELS but below twice it: Pillow only warns.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(ImageTooLarge):
            probe_upload(png_header(10_000, 10_000), max_pixels=10**12)
    with (
        pytest.warns(Image.DecompressionBombWarning),
        pytest.raises(ImageTooLarge) as caught,
    ):
        probe_upload(png_header(10_000, 10_000), max_pixels=10**12)

    assert caught.value.details["max_pixels"] == Image.MAX_IMAGE_PIXELS


def test_probe_rejects_an_image_under_32_pixels_a_side() -> None:
    with pytest.raises(ImageTooSmall):
        probe_upload(encode(photo(200, 20), "PNG"), max_pixels=MAX_PIXELS)


def test_size_limits_are_per_call_when_threads_overlap() -> None:
    data = encode(photo(400, 300), "JPEG")

    def probe(max_pixels: int) -> str:
        try:
            return probe_upload(data, max_pixels=max_pixels).format
        except ImageTooLarge:
            return "too large"

    limits = [100_000, MAX_PIXELS] * 20
    global_limit = Image.MAX_IMAGE_PIXELS
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(probe, limits))

    assert outcomes == ["too large", "JPEG"] * 20
    assert global_limit == Image.MAX_IMAGE_PIXELS  # untouched by any call


# --- prepare_input ------------------------------------------------------------------------


def test_prepare_rejects_a_truncated_jpeg_as_corrupt() -> None:
    data = encode(photo(640, 480), "JPEG", quality=90)

    with pytest.raises(CorruptImage):
        prepare_input(data[: len(data) // 2], long_side=1280, max_pixels=MAX_PIXELS)


@pytest.mark.parametrize(
    ("size", "long_side", "expected"),
    [
        ((2400, 1800), 1280, (1280, 960)),
        ((2400, 1800), 854, (854, 640)),
        ((1800, 2400), 1280, (960, 1280)),
        ((2000, 1500), 854, (854, 640)),
        ((600, 400), 1280, (600, 400)),
        ((600, 400), 854, (600, 400)),
    ],
)
def test_prepare_fits_the_long_side_and_never_upscales(
    size: tuple[int, int], long_side: int, expected: tuple[int, int]
) -> None:
    img = prepared(encode(photo(*size), "JPEG", quality=90), long_side)

    assert img.size == expected


def test_fast_jpeg_downscale_matches_a_full_resolution_lanczos() -> None:
    source = photo(2000, 1500)
    reference = decode(encode(source, "JPEG", quality=90)).resize(
        (854, 640), Image.Resampling.LANCZOS
    )

    img = prepared(encode(source, "JPEG", quality=90), 854)

    assert psnr(img, reference) > 35


def test_prepare_applies_exif_orientation() -> None:
    source = photo(400, 200).copy()
    source.paste((255, 0, 0), (0, 0, 80, 60))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display turns it 90 degrees clockwise

    img = prepared(encode(source, "JPEG", quality=95, exif=exif))

    assert img.size == (200, 400)
    # the stored top-left red patch is displayed at the top right
    assert img.getpixel((200 - 30, 40)) == pytest.approx((255, 0, 0), abs=40)


def _rgba_with_holes() -> Image.Image:
    img = photo(160, 120).convert("RGBA")
    alpha = Image.linear_gradient("L").resize(img.size)
    alpha.paste(0, (0, 0, 40, 40))
    img.putalpha(alpha)
    return img


def _flattened(img: Image.Image) -> Image.Image:
    return Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA")).convert(
        "RGB"
    )


def _i16(img: Image.Image) -> Image.Image:
    return img.convert("L").convert("I").point(lambda v: v * 257).convert("I;16")


MODES: dict[str, tuple[Callable[[], Image.Image], str, Callable[[Image.Image], Image.Image]]] = {
    # mode: (source, file format, what the RGB result must look like)
    "RGBA": (_rgba_with_holes, "PNG", _flattened),
    "LA": (lambda: _rgba_with_holes().convert("LA"), "PNG", _flattened),
    "P": (lambda: photo(160, 120).quantize(64), "PNG", lambda i: i.convert("RGB")),
    "P+transparency": (
        lambda: _rgba_with_holes().quantize(64, method=Image.Quantize.FASTOCTREE),
        "PNG",
        _flattened,
    ),
    "CMYK": (lambda: photo(160, 120).convert("CMYK"), "JPEG", lambda i: i.convert("RGB")),
    # convert("L") would clip 16-bit values: they must map back to the 8-bit grey
    "I;16": (
        lambda: _i16(photo(160, 120)),
        "PNG",
        lambda _: photo(160, 120).convert("L").convert("RGB"),
    ),
    "I": (
        lambda: _i16(photo(160, 120)).convert("I"),
        "TIFF",
        lambda _: photo(160, 120).convert("L").convert("RGB"),
    ),
    "F": (
        lambda: photo(160, 120).convert("L").convert("F").point(lambda v: v / 255),
        "TIFF",
        lambda i: i.point(lambda v: v * 255).convert("L").convert("RGB"),
    ),
    "L": (lambda: photo(160, 120).convert("L"), "PNG", lambda i: i.convert("RGB")),
    "1": (lambda: photo(160, 120).convert("1"), "PNG", lambda i: i.convert("RGB")),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_prepare_converts_every_mode_to_rgb(mode: str) -> None:
    make, fmt, expect = MODES[mode]
    source = make()
    data = encode(source, fmt, quality=95) if fmt == "JPEG" else encode(source, fmt)
    assert decode(data).mode == mode.split("+")[0]

    img = prepared(data)

    # Dithered "1" and speckled 64-colour "P" are all edges, where JPEG q92 errs most;
    # "1" is judged on its average grey below.
    tolerance = {"1": 40, "P": 6}.get(mode, 4)
    assert mean_difference(img, expect(decode(data))) < tolerance
    if mode == "1":
        assert abs(ImageStat.Stat(img.convert("L")).mean[0] - ImageStat.Stat(source).mean[0]) < 3


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P+transparency"])
def test_transparent_areas_flatten_on_white(mode: str) -> None:
    make, fmt, _ = MODES[mode]

    img = prepared(encode(make(), fmt))

    assert darkest(img.crop((4, 4, 36, 36))) > 235


# --- postprocess --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def before() -> bytes:
    return prepare_input(
        encode(photo(1280, 960), "JPEG", quality=90), long_side=1280, max_pixels=MAX_PIXELS
    ).data


@pytest.fixture(scope="module")
def model_output() -> bytes:
    return encode(photo(1600, 1200, seed=8), "PNG")


def test_postprocess_fits_result_thumbnail_and_comparison(
    before: bytes, model_output: bytes
) -> None:
    out = postprocess(model_output, before, long_side=1280, watermark=False)

    result, thumbnail, comparison = (
        decode(out.result),
        decode(out.thumbnail),
        decode(out.comparison),
    )
    assert (result.format, result.mode, result.size) == ("JPEG", "RGB", (1280, 960))
    assert (out.width, out.height) == result.size
    assert thumbnail.size == (256, 192)
    assert max(comparison.size) <= 1600
    # before and after are both 4:3, so the comparison is two panels wide at their height
    panel_width = comparison.height * 4 / 3
    assert comparison.width == pytest.approx(2 * panel_width, rel=0.02)


def test_postprocess_never_upscales_the_result(before: bytes) -> None:
    out = postprocess(encode(photo(640, 480), "PNG"), before, long_side=1280, watermark=False)

    assert (out.width, out.height) == (640, 480)


def test_postprocess_without_watermark_keeps_the_model_output(
    before: bytes, model_output: bytes
) -> None:
    out = postprocess(model_output, before, long_side=1280, watermark=False)

    expected = photo(1600, 1200, seed=8).resize((1280, 960), Image.Resampling.LANCZOS)
    assert mean_difference(decode(out.result), expected) < 4


def test_watermark_is_visible_across_result_and_comparison(
    before: bytes, model_output: bytes
) -> None:
    clean = postprocess(model_output, before, long_side=1280, watermark=False)
    marked = postprocess(model_output, before, long_side=1280, watermark=True)

    for attr in ("result", "comparison"):
        a, b = decode(getattr(clean, attr)), decode(getattr(marked, attr))
        assert changed_fraction(a, b) > 0.05
        width, height = a.size
        for box in [(0, 0, width // 2, height // 2), (width // 2, height // 2, width, height)]:
            assert changed_fraction(a.crop(box), b.crop(box)) > 0.03, (attr, box)


def test_postprocess_flattens_a_transparent_model_output(before: bytes) -> None:
    out = postprocess(encode(_rgba_with_holes(), "PNG"), before, long_side=1280, watermark=False)

    result = decode(out.result)
    assert result.mode == "RGB"
    assert darkest(result.crop((4, 4, 36, 36))) > 235


@pytest.mark.parametrize(
    "model_output", [b"", b'{"error": "CUDA out of memory"}', png_header(9000, 9000)]
)
def test_unreadable_model_output_is_a_model_failure(before: bytes, model_output: bytes) -> None:
    with pytest.raises(ModelFailed) as caught:
        postprocess(model_output, before, long_side=1280, watermark=True)

    assert isinstance(caught.value.__cause__, HeirloomError)
