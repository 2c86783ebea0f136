"""What the gate knows of a prepared input: its size, luminance grid, faces and their
embeddings. Computed once per job and reused by every try's check; plain numbers and arrays,
so the worker can hold one and hand it to the gate's process without loading dlib."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Embedding = npt.NDArray[np.float64]
Grid = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Box:
    """A face's box in pixels; right and bottom are exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def centre(self) -> tuple[float, float]:
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2

    def scaled(self, sx: float, sy: float) -> Box:
        return Box(
            round(self.left * sx),
            round(self.top * sy),
            round(self.right * sx),
            round(self.bottom * sy),
        )

    def expanded(self, margin: float, width: int, height: int) -> Box:
        """Grown by `margin` of its size on each side, within a width x height frame."""
        dx, dy = round(self.width * margin), round(self.height * margin)
        return Box(
            max(0, self.left - dx),
            max(0, self.top - dy),
            min(width, self.right + dx),
            min(height, self.bottom + dy),
        )

    def moved(self, dx: int, dy: int) -> Box:
        return Box(self.left + dx, self.top + dy, self.right + dx, self.bottom + dy)


@dataclass(frozen=True)
class InputFaces:
    """The input's faces, largest first, and the embeddings and face-region luminance grids
    of the largest ones."""

    boxes: tuple[Box, ...]
    embeddings: tuple[Embedding, ...]
    regions: tuple[Grid, ...] = ()

    def embedding_of(self, box: Box) -> Embedding | None:
        for found, embedding in zip(self.boxes, self.embeddings, strict=False):
            if found == box:
                return embedding
        return None

    def region_of(self, box: Box) -> Grid | None:
        for found, region in zip(self.boxes, self.regions, strict=False):
            if found == box:
                return region
        return None


@dataclass(frozen=True)
class InputProfile:
    """The prepared input as the gate compares outputs with it; `digest` names the input's
    bytes, so a profile is never used for another input."""

    digest: str
    size: tuple[int, int]
    grid: Grid = field(repr=False)
    faces: InputFaces | None
    cpu_ms: float


def input_digest(prepared_input: bytes) -> str:
    """The name a profile gives the input it was made from (SHA-256; about 2 ms per MB)."""
    return hashlib.sha256(prepared_input).hexdigest()
