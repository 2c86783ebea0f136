"""Output frames by tier, the metadata kept from an upload, and no personal EXIF in outputs."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from PIL import _imaging as pillow_core

from heirloom.domain.tiers import DEFAULT_TIER_RULES, Tier
from heirloom.services.imaging import metadata as photo_metadata
from heirloom.services.imaging.pipeline import postprocess, prepare_input

MAX_PIXELS = 50_000_000
GPS_IFD = 0x8825
EXIF_IFD = 0x8769


def gradient(width: int, height: int, *, grey: bool = False) -> Image.Image:
    base = Image.linear_gradient("L").resize((width, height))
    if grey:
        return Image.merge("RGB", (base, base, base))
    return Image.merge(
        "RGB",
        (
            base,
            base.rotate(90).resize((width, height)),
            base.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        ),
    )


def tagged_jpeg(img: Image.Image, *, orientation: int = 1) -> bytes:
    """A JPEG with camera, capture date, owner, serial number and GPS position in its EXIF."""
    exif = Image.Exif()
    exif[0x010F] = "Kodak"
    exif[0x0110] = "Brownie 127"
    exif[0x0112] = orientation
    exif[0x013B] = "Jane Doe"  # Artist
    sub = exif.get_ifd(EXIF_IFD)
    sub[0x9003] = "1962:07:14 10:30:00"
    sub[0xA431] = "SN-123456"  # BodySerialNumber
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 29.0)
    gps[3] = "E"
    gps[4] = (2.0, 17.0, 40.0)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


@pytest.mark.parametrize(
    ("tier", "size", "expected"),
    [
        (Tier.FREE, (2000, 1500), (640, 480)),  # 4:3 landscape is short-side bound
        (Tier.FREE, (1500, 2000), (480, 640)),  # the frame turns with the photo
        (Tier.FREE, (3200, 1000), (854, 267)),  # panoramas are long-side bound
        (Tier.FREE, (1920, 1080), (853, 480)),  # 16:9; "854" is 480 * 16 / 9 rounded up
        (Tier.PAID, (2000, 1500), (960, 720)),
        (Tier.FOREVER, (1080, 1920), (720, 1280)),
    ],
)
def test_outputs_fit_the_tiers_frame_in_the_photos_orientation(
    tier: Tier, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    rules = DEFAULT_TIER_RULES[tier]
    data = tagged_jpeg(gradient(*size))
    prepared = prepare_input(
        data,
        long_side=rules.output_long_side,
        short_side=rules.output_short_side,
        max_pixels=MAX_PIXELS,
    )
    assert (prepared.width, prepared.height) == expected
    model_output = gradient(size[0] * 2, size[1] * 2)
    buf = io.BytesIO()
    model_output.save(buf, "PNG")
    out = postprocess(
        buf.getvalue(),
        prepared.data,
        long_side=rules.output_long_side,
        short_side=rules.output_short_side,
        watermark=rules.watermark,
    )
    assert size_of(out.result) == expected == (out.width, out.height)


def test_a_photo_inside_the_frame_is_never_upscaled() -> None:
    data = tagged_jpeg(gradient(400, 300))
    prepared = prepare_input(data, long_side=854, short_side=480, max_pixels=MAX_PIXELS)
    assert (prepared.width, prepared.height) == (400, 300)


def test_without_a_short_side_only_the_long_side_is_bounded() -> None:
    """Jobs submitted before frames existed replay with the old rule."""
    prepared = prepare_input(
        tagged_jpeg(gradient(2000, 1500)), long_side=854, max_pixels=MAX_PIXELS
    )
    assert (prepared.width, prepared.height) == (854, 640)


def test_metadata_keeps_format_size_colour_date_and_camera_only() -> None:
    data = tagged_jpeg(gradient(800, 600), orientation=6)
    meta = photo_metadata.extract(data)
    assert meta == {
        "format": "JPEG",
        "width": 600,  # upright: orientation 6 turns the stored 800x600 a quarter
        "height": 800,
        "mode": "RGB",
        "captured_at": "1962-07-14T10:30:00",
        "camera": "Kodak Brownie 127",
    }
    assert "Jane" not in repr(meta)
    assert "SN-123456" not in repr(meta)


def test_a_grey_photo_saved_in_colour_looks_black_and_white_on_its_shrunk_copy() -> None:
    buf = io.BytesIO()
    gradient(640, 480, grey=True).save(buf, "PNG")
    meta = photo_metadata.extract(buf.getvalue())
    assert "black_and_white" not in meta  # the API reads the header only
    assert meta["captured_at"] is None
    assert meta["camera"] is None
    grey = prepare_input(buf.getvalue(), long_side=854, short_side=480, max_pixels=MAX_PIXELS)
    assert grey.black_and_white is True
    colour = prepare_input(
        tagged_jpeg(gradient(640, 480)), long_side=854, short_side=480, max_pixels=MAX_PIXELS
    )
    assert colour.black_and_white is False


def test_metadata_of_a_40_mp_png_reads_its_header_only() -> None:
    """A 124 KiB PNG can hold 40 MP (120 MB of pixels): the API never decodes it."""
    buf = io.BytesIO()
    Image.new("RGB", (7300, 5470), (120, 110, 100)).save(buf, "PNG", optimize=True)
    images_before = pillow_core.get_stats()["new_count"]
    meta = photo_metadata.extract(buf.getvalue())
    # Pillow allocated no image: not a pixel was decoded (PNG's getexif() would decode all).
    assert pillow_core.get_stats()["new_count"] == images_before
    assert (meta["width"], meta["height"], meta["format"]) == (7300, 5470, "PNG")


def test_no_exif_reaches_the_input_result_thumbnail_or_comparison() -> None:
    data = tagged_jpeg(gradient(1600, 1200))
    with Image.open(io.BytesIO(data)) as original:  # the test input really carries GPS
        assert original.getexif().get_ifd(GPS_IFD)
    prepared = prepare_input(data, long_side=854, short_side=480, max_pixels=MAX_PIXELS)
    out = postprocess(data, prepared.data, long_side=854, short_side=480, watermark=True)
    for blob in (prepared.data, out.result, out.thumbnail, out.comparison):
        with Image.open(io.BytesIO(blob)) as img:
            assert not img.getexif().get_ifd(GPS_IFD)
            assert "exif" not in img.info
        for marker in (b"Exif\x00\x00", b"Jane Doe", b"SN-123456", b"Kodak"):
            assert marker not in blob


def test_a_truncated_photo_still_gets_its_header_metadata() -> None:
    data = tagged_jpeg(gradient(800, 600))
    meta = photo_metadata.extract(data[: len(data) // 2])
    assert (meta["width"], meta["height"], meta["camera"]) == (800, 600, "Kodak Brownie 127")
