"""Faces through dlib: the HOG face detector, 5-point landmarks and the 128-d face embedding.

The landmark and embedding weights ship in the face-recognition-models package (CC0, by dlib's
author); the detector is built into dlib. Nothing is downloaded. The package's directory is
found without importing it: its `__init__` imports `pkg_resources`, which setuptools retires.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import cache
from pathlib import Path

import dlib
import numpy as np
import numpy.typing as npt

from heirloom.services.quality.profile import Box, Embedding

_MODELS_PACKAGE = "face_recognition_models"
_LANDMARKS = "shape_predictor_5_face_landmarks.dat"
_EMBEDDING = "dlib_face_recognition_resnet_model_v1.dat"

Pixels = npt.NDArray[np.uint8]


class FaceModels:
    """dlib's detector, landmarks and embedding network, for one thread at a time: a dlib
    network keeps its layers' outputs between calls. `face_models()` gives each thread its own.
    """

    def __init__(self, models_dir: Path) -> None:
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(str(models_dir / _LANDMARKS))
        self._embedding = dlib.face_recognition_model_v1(str(models_dir / _EMBEDDING))

    def detect(self, grey: Pixels) -> list[Box]:
        """Frontal faces in an 8-bit grey image, largest first (the HOG window is 80 px: smaller
        faces are missed)."""
        found = self._detector(np.ascontiguousarray(grey), 0)
        boxes = [Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in found]
        return sorted(boxes, key=lambda box: box.width * box.height, reverse=True)

    def embedding(self, rgb: Pixels, box: Box) -> Embedding:
        """The 128-d embedding of the face in `box`, aligned on its five landmarks; two photos
        of one person are usually within 0.6 of each other (dlib's own threshold)."""
        rect = dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
        shape = self._landmarks(rgb, rect)
        return np.asarray(self._embedding.compute_face_descriptor(rgb, shape), dtype=np.float64)


_per_thread = threading.local()


def face_models() -> FaceModels:
    """This thread's models, loaded on first use (about 30 MB)."""
    models: FaceModels | None = getattr(_per_thread, "models", None)
    if models is None:
        models = FaceModels(models_dir())
        _per_thread.models = models
    return models


@cache
def models_dir() -> Path:
    """Where face-recognition-models keeps its weights."""
    spec = importlib.util.find_spec(_MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {_MODELS_PACKAGE} package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"
