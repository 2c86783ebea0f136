"""The CPU stand-in engine changes photos in the direction the real model would."""

from __future__ import annotations

import random

from PIL import Image, ImageChops, ImageFilter, ImageStat

from heirloom.domain.jobs import Operation
from heirloom.gpu_handler.engines import CpuEngine

RESTORE = (Operation.RESTORE,)
COLORIZE = (Operation.COLORIZE,)
BOTH = (Operation.RESTORE, Operation.COLORIZE)


def faded_photo(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A washed-out grey gradient (values 100..150) sprinkled with white dust specks."""
    width, height = size
    photo = Image.new("L", size)
    photo.putdata([100 + (50 * x) // (width - 1) for _ in range(height) for x in range(width)])
    dust = random.Random(7)
    for _ in range(40):
        photo.putpixel((dust.randrange(width), dust.randrange(height)), 255)
    return photo.convert("RGB")


def tonal_range(image: Image.Image) -> int:
    low, high = image.convert("L").getextrema()
    assert isinstance(low, int)
    assert isinstance(high, int)
    return high - low


def specks(image: Image.Image) -> int:
    """Pixels far brighter than their 3x3 neighbourhood's median."""
    gray = image.convert("L")
    median = gray.filter(ImageFilter.MedianFilter(3))
    return sum(ImageChops.subtract(gray, median).histogram()[41:])


def mean_chroma(image: Image.Image) -> float:
    saturation = image.convert("HSV").getchannel("S")
    return float(ImageStat.Stat(saturation).mean[0])


def test_restore_widens_the_tonal_range_of_a_faded_photo() -> None:
    photo = faded_photo()
    dust_free = photo.filter(ImageFilter.MedianFilter(3))

    restored = CpuEngine().apply(photo, RESTORE)

    assert tonal_range(restored.filter(ImageFilter.MedianFilter(3))) > tonal_range(dust_free) + 50


def test_restore_removes_dust_specks() -> None:
    photo = faded_photo()

    restored = CpuEngine().apply(photo, RESTORE)

    assert specks(photo) >= 30
    assert specks(restored) < specks(photo) // 4


def test_colorize_gives_a_grayscale_photo_colour() -> None:
    photo = faded_photo()
    assert mean_chroma(photo) == 0

    colourized = CpuEngine().apply(photo, COLORIZE)

    assert mean_chroma(colourized) > 20
    red, _, blue = ImageStat.Stat(colourized).mean
    assert red > blue  # a warm tone, not a random tint


def test_every_operation_keeps_the_size_and_returns_rgb() -> None:
    photo = faded_photo((123, 77))
    for operations in (RESTORE, COLORIZE, BOTH):
        result = CpuEngine().apply(photo, operations)
        assert result.size == (123, 77)
        assert result.mode == "RGB"


def test_the_engine_is_deterministic() -> None:
    photo = faded_photo()

    first = CpuEngine().apply(photo, BOTH)
    second = CpuEngine().apply(photo.copy(), BOTH)

    assert first.tobytes() == second.tobytes()
    assert first.tobytes() != photo.tobytes()
