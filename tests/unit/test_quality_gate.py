"""The quality gate on the evaluation photos (tests/harness/evaluation_photos.py): what the CPU
stand-in makes passes, a face from another photo, a blank, a strip, a moved or a different
picture fails, and the colourize-only result keeps the input's luminance."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from heirloom.config import QualitySettings
from heirloom.devstack.output_faults import OutputFault, damage, donor_face, paste_face
from heirloom.domain.errors import InternalError
from heirloom.domain.jobs import Operation
from heirloom.domain.quality import Reason, Verdict
from heirloom.gpu_handler.engines import CpuEngine
from heirloom.services.imaging import pipeline
from heirloom.services.quality.gate import check_output
from tests.harness.evaluation_photos import (
    Photo,
    at_one_megapixel,
    degrade,
    donor_crop,
    jpeg,
    lfw_portraits,
    photographs,
    png,
)

SETTINGS = QualitySettings()
# The prepared input of a free job: within 854 x 480.
FRAME = (854, 480)
FACES = [p for p in photographs() if p.has_face] + list(lfw_portraits(6)[:3])
SCENES = [p for p in photographs() if not p.has_face][:4]


def prepared(photo: Photo, degradation: str) -> Image.Image:
    img = degrade(photo, degradation)
    img.thumbnail(FRAME)
    return pipeline.decode_rgb(jpeg(img), error=InternalError)


def test_every_bundled_face_is_found() -> None:
    """The evaluation set's faces are faces to dlib: otherwise identity would pass unchecked."""
    for photo in FACES:
        report = check_output(jpeg(photo.image), png(photo.image), SETTINGS)
        assert report.faces_found >= 1, photo.name


@pytest.mark.parametrize("degradation", ["grey", "worn"])
@pytest.mark.parametrize("photo", FACES + SCENES, ids=lambda p: p.name)
def test_the_stand_ins_result_passes(photo: Photo, degradation: str) -> None:
    before = prepared(photo, degradation)
    for operations in ([Operation.RESTORE], [Operation.RESTORE, Operation.COLORIZE]):
        after = CpuEngine().apply(before, operations)
        report = check_output(jpeg(before), png(after), SETTINGS)
        assert report.passed, (photo.name, operations, report)


@pytest.mark.parametrize("degradation", ["grey", "worn"])
@pytest.mark.parametrize("photo", FACES, ids=lambda p: p.name)
def test_a_face_from_another_photo_never_passes(photo: Photo, degradation: str) -> None:
    """Every face photo, with each other real photograph's face pasted in (the astronaut, the
    endpoint's donor, and Grace Hopper), fails: identity on the real photographs (delivered
    flagged), identity or structure (a different or moved picture) on the small LFW portraits
    the pasted face covers."""
    before = prepared(photo, degradation)
    restored = CpuEngine().apply(before, [Operation.RESTORE])
    donors = {"astronaut": donor_face(), "hopper": _hopper_donor()}
    for name, donor in donors.items():
        if name == photo.name:
            continue
        report = check_output(jpeg(before), png(paste_face(restored, donor)), SETTINGS)
        assert not report.passed, (name, report)
        assert report.reason in (Reason.DIFFERENT_FACE, Reason.DIFFERENT_PICTURE, Reason.SHIFTED)
        if photo.name in donors:
            assert (report.usable, report.identity) == (True, Verdict.FAILED), (name, report)
        if report.identity is Verdict.FAILED:
            assert report.identity_distance is not None
            assert report.face_structure_score is not None
            assert (
                report.identity_distance > SETTINGS.identity_max_distance
                or report.face_structure_score < SETTINGS.face_structure_min_score
            )


def test_a_small_soft_face_pasted_into_a_worn_face_fails_on_its_region() -> None:
    """The case the embedding alone missed (bench/quality.py, --faces 6): an LFW face from a
    25 px source pasted into the worn Grace Hopper at 1 MP embeds within dlib's 0.6 of the
    input's face (0.56: worn photos of one person reach 0.70), but the face's region no longer
    has the input's shapes, so identity fails and the job is delivered flagged."""
    hopper = next(p for p in photographs() if p.name == "hopper")
    before = pipeline.decode_rgb(
        jpeg(at_one_megapixel(degrade(hopper, "worn"))), error=InternalError
    )
    restored = CpuEngine().apply(before, [Operation.RESTORE])
    swapped = png(paste_face(restored, donor_crop(lfw_portraits(6)[0])))
    report = check_output(jpeg(before), swapped, SETTINGS)
    assert (report.usable, report.identity, report.reason) == (
        True,
        Verdict.FAILED,
        Reason.DIFFERENT_FACE,
    ), report
    assert report.identity_distance is not None
    assert report.identity_distance <= SETTINGS.identity_max_distance, "caught by the region"
    assert report.face_structure_score is not None
    assert report.face_structure_score < SETTINGS.face_structure_min_score
    # Without the region comparison the gate passes it: the check is what catches it.
    assert check_output(jpeg(before), swapped, SETTINGS, face_structure=False).passed
    # The faithful result of the same input keeps its face's region.
    faithful = check_output(jpeg(before), png(restored), SETTINGS)
    assert faithful.passed, faithful
    assert faithful.face_structure_score is not None
    assert faithful.face_structure_score >= SETTINGS.face_structure_min_score


@pytest.mark.parametrize("photo", FACES[:3], ids=lambda p: p.name)
def test_a_faithful_face_moved_within_the_allowed_shift_still_passes(photo: Photo) -> None:
    """The face-region comparison looks around the face's place as far as the structure
    check lets a picture move (3 %): a faithful result moved 2 % diagonally keeps its faces."""
    before = pipeline.decode_rgb(
        jpeg(at_one_megapixel(degrade(photo, "grey"))), error=InternalError
    )
    restored = CpuEngine().apply(before, [Operation.RESTORE])
    moved = Image.new("RGB", before.size)
    moved.paste(restored, (round(before.width * 0.02), round(before.height * 0.02)))
    report = check_output(jpeg(before), png(moved), SETTINGS)
    assert report.passed, report
    assert report.face_structure_score is not None
    assert report.face_structure_score >= SETTINGS.face_structure_min_score


@pytest.mark.parametrize(
    ("fault", "reason"),
    [(OutputFault.BLANK, Reason.BLANK), (OutputFault.CROPPED, Reason.FRAMING)],
)
def test_blank_and_cropped_outputs_fail_sanity(fault: OutputFault, reason: Reason) -> None:
    for photo in (*FACES[:1], *SCENES[:2]):
        before = prepared(photo, "faded")
        after = damage(CpuEngine().apply(before, [Operation.RESTORE]), fault)
        report = check_output(jpeg(before), png(after), SETTINGS)
        assert (report.sanity, report.reason) == (Verdict.FAILED, reason)


def test_a_black_output_and_an_unreadable_one_fail_sanity() -> None:
    before = prepared(SCENES[0], "grey")
    black = check_output(jpeg(before), png(Image.new("RGB", before.size)), SETTINGS)
    assert (black.sanity, black.reason) == (Verdict.FAILED, Reason.BLACK)
    broken = check_output(jpeg(before), b"\x89PNG\r\n\x1a\n not really", SETTINGS)
    assert (broken.sanity, broken.reason) == (Verdict.FAILED, Reason.UNDECODABLE)


def test_a_moved_or_different_picture_fails_structure() -> None:
    before = prepared(SCENES[0], "grey")
    restored = CpuEngine().apply(before, [Operation.RESTORE])
    moved = Image.new("RGB", before.size)
    moved.paste(restored, (round(before.width * 0.08), 0))
    other = SCENES[1].image.resize(before.size)
    for after in (moved, other):
        report = check_output(jpeg(before), png(after), SETTINGS)
        assert (report.sanity, report.structure) == (Verdict.PASSED, Verdict.FAILED), report


def test_a_switched_off_gate_checks_nothing() -> None:
    before = prepared(SCENES[0], "grey")
    off = SETTINGS.model_copy(update={"enabled": False})
    report = check_output(jpeg(before), png(Image.new("RGB", before.size)), off)
    assert report.passed
    assert report.sanity is Verdict.SKIPPED


def test_colourize_only_results_keep_the_inputs_luminance() -> None:
    before = prepared(FACES[0], "grey")
    # A model that also redrew the picture: darker, and with a different face.
    colour = paste_face(CpuEngine().apply(before, [Operation.COLORIZE]), _lfw_donor())
    done = pipeline.postprocess(
        png(colour), jpeg(before), long_side=854, watermark=False, keep_input_luminance=True
    )
    result = pipeline.decode_rgb(done.result, error=InternalError)
    luma_in = np.asarray(before.convert("L"), dtype=np.float32)
    luma_out = np.asarray(result.convert("L"), dtype=np.float32)
    assert float(np.abs(luma_in - luma_out).mean()) < 3.0
    chroma = np.asarray(result.convert("YCbCr"), dtype=np.float32)[..., 1:]
    assert float(np.abs(chroma - 128).mean()) > 3.0, "the model's colour is kept"


def _hopper_donor() -> Image.Image:
    """Grace Hopper's face with the margin the endpoint's donor file has."""
    hopper = next(p for p in photographs() if p.name == "hopper").image
    return hopper.crop((85, 61, 453, 429))


def _lfw_donor() -> Image.Image:
    face = lfw_portraits(6)[5].image
    return face.crop((60, 50, 300, 330))
