"""HEIC/HEIF (phones) and AVIF uploads: accepted from their header, limited before decoding,
decoded upright; results carry the AI note and download as a lossless PNG too."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from heirloom.domain.errors import CorruptImage, ImageTooLarge
from heirloom.services.imaging import provenance
from heirloom.services.imaging.metadata import extract
from heirloom.services.imaging.pipeline import (
    postprocess,
    prepare_input,
    probe_upload,
    result_as_png,
)
from tests.support import photo_bytes

MAX_PIXELS = 40_000_000
_ORIENTATION = 0x0112
_GPS_IFD = 0x8825


def phone_photo(fmt: str, width: int = 96, height: int = 64, *, orientation: int = 1) -> bytes:
    """A photo saved as a phone would: `fmt`, EXIF with an orientation and a GPS position."""
    image = Image.open(io.BytesIO(photo_bytes(width, height)))
    exif = Image.Exif()
    exif[_ORIENTATION] = orientation
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(_GPS_IFD)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.0)
    out = io.BytesIO()
    image.save(out, fmt, exif=exif.tobytes())
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "extension"), [("HEIF", "heic"), ("AVIF", "avif")])
def test_heic_and_avif_uploads_are_accepted_from_their_header(fmt: str, extension: str) -> None:
    info = probe_upload(phone_photo(fmt), max_pixels=MAX_PIXELS)

    assert (info.format, info.extension, info.width, info.height) == (fmt, extension, 96, 64)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_rotated_phone_photo_is_prepared_upright_and_its_record_has_no_gps(fmt: str) -> None:
    data = phone_photo(fmt, orientation=6)

    prepared = prepare_input(data, long_side=1280, max_pixels=MAX_PIXELS)
    record = extract(data)

    assert (prepared.width, prepared.height) == (64, 96)
    assert (record["width"], record["height"]) == (64, 96)
    assert record["camera"] == "PhoneMaker"
    assert "gps" not in str(record).lower()
    model_input = Image.open(io.BytesIO(prepared.data))
    assert model_input.format == "JPEG"
    assert not model_input.getexif().get_ifd(_GPS_IFD)


def _with_declared_size(heic: bytes, width: int, height: int) -> bytes:
    """The HEIC with its `ispe` box (the image's declared size) changed; pixels untouched."""
    at = heic.index(b"ispe") + 8  # box type, then version and flags
    return heic[:at] + width.to_bytes(4, "big") + height.to_bytes(4, "big") + heic[at + 8 :]


def test_a_heic_declaring_a_huge_size_is_refused_before_any_decoding() -> None:
    huge = _with_declared_size(phone_photo("HEIF"), 9000, 9000)

    with pytest.raises(ImageTooLarge):
        probe_upload(huge, max_pixels=MAX_PIXELS)
    with pytest.raises(ImageTooLarge):
        prepare_input(huge, long_side=1280, max_pixels=MAX_PIXELS)


def test_a_truncated_heic_is_a_corrupt_image_not_a_crash() -> None:
    data = phone_photo("HEIF")

    with pytest.raises(CorruptImage):
        prepare_input(data[: len(data) // 2], long_side=1280, max_pixels=MAX_PIXELS)


def test_results_carry_the_ai_note_as_xmp_with_iptcs_digital_source_type() -> None:
    before = prepare_input(photo_bytes(120, 80), long_side=1280, max_pixels=MAX_PIXELS).data

    out = postprocess(before, before, long_side=1280, watermark=False)

    for deliverable in (out.result, out.comparison):
        xmp = Image.open(io.BytesIO(deliverable)).info["xmp"]
        assert provenance.DIGITAL_SOURCE_TYPE.encode() in xmp
        assert b"Restored with AI" in xmp
    assert not Image.open(io.BytesIO(out.result)).getexif()


def test_a_result_as_png_has_the_same_pixels_and_the_ai_note_in_text_and_xmp() -> None:
    before = prepare_input(photo_bytes(120, 80), long_side=1280, max_pixels=MAX_PIXELS).data
    result = postprocess(before, before, long_side=1280, watermark=False).result

    png = Image.open(io.BytesIO(result_as_png(result)))
    assert isinstance(png, PngImagePlugin.PngImageFile)

    assert png.format == "PNG"
    assert png.convert("RGB").tobytes() == Image.open(io.BytesIO(result)).convert("RGB").tobytes()
    assert png.text["Description"] == provenance.AI_NOTE
    assert provenance.DIGITAL_SOURCE_TYPE in png.text["XML:com.adobe.xmp"]
