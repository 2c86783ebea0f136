"""The API process never loads the quality gate's face models: only the worker needs dlib."""

from __future__ import annotations

import subprocess
import sys

FACE_MODULES = ("dlib", "_dlib_pybind11", "face_recognition_models")


def test_the_api_app_imports_no_dlib_nor_face_models() -> None:
    code = (
        "import sys; import heirloom.api.app, heirloom.starters.restoration; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{FACE_MODULES!r} or m.startswith(('heirloom.services.quality.faces', "
        "'heirloom.services.quality.identity'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert loaded == "[]"


def test_the_worker_finds_the_shipped_weights_without_a_download() -> None:
    from heirloom.services.quality.faces import models_dir

    for name in (
        "shape_predictor_5_face_landmarks.dat",
        "dlib_face_recognition_resnet_model_v1.dat",
    ):
        assert (models_dir() / name).stat().st_size > 1_000_000
