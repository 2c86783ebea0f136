"""Structure: the output still shows the input's picture, in the same place.

Both luminances are compared on a small grid (the input's aspect ratio), each normalised to
zero mean and unit variance so a restoration's new contrast and brightness count for nothing:
SSIM measures whether the shapes are still there; phase correlation finds how far the picture
moved (a crop, a zoom or a different photo has no clean peak at zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from heirloom.domain.quality import Reason, Verdict

# SSIM's stabilising constants for unit-variance signals (the usual K1 = 0.01, K2 = 0.03 over
# a dynamic range of about 6 standard deviations).
_C1 = (0.01 * 6) ** 2
_C2 = (0.03 * 6) ** 2
# The side of SSIM's square window, in grid pixels.
_WINDOW = 7

Grid = npt.NDArray[np.float32]


@dataclass(frozen=True)
class StructureResult:
    verdict: Verdict
    score: float
    shift: float
    reason: Reason | None = None


def check_structure(
    input_grid: Grid, output_grid: Grid, *, min_score: float, max_shift: float
) -> StructureResult:
    """Compare two luminance grids of one size: fail a shifted picture or a different one."""
    a, b = _normalised(input_grid), _normalised(output_grid)
    score = ssim(a, b)
    shift = phase_shift(a, b)
    if shift > max_shift:
        return StructureResult(Verdict.FAILED, score, shift, Reason.SHIFTED)
    if score < min_score:
        return StructureResult(Verdict.FAILED, score, shift, Reason.DIFFERENT_PICTURE)
    return StructureResult(Verdict.PASSED, score, shift)


def similarities(input_grid: Grid, output_grids: Grid) -> Grid:
    """SSIM of a luminance grid against each of a stack of grids of its size (shape
    (n, height, width)), every grid normalised first: 1.0 the same shapes."""
    a = _normalised(input_grid)
    centred = output_grids - output_grids.mean(axis=(-2, -1), keepdims=True)
    spread = np.maximum(centred.std(axis=(-2, -1), keepdims=True), 1e-6)
    b = (centred / spread).astype(np.float32)
    scores: Grid = _ssim_map(np.broadcast_to(a, b.shape), b).mean(axis=(-2, -1))
    return scores


def ssim(a: Grid, b: Grid) -> float:
    """Mean structural similarity of two normalised grids over square windows."""
    return float(np.mean(_ssim_map(a, b)))


def _ssim_map(a: Grid, b: Grid) -> Grid:
    """SSIM of each full window, over the last two axes."""
    mu_a, mu_b = _box(a), _box(b)
    var_a = _box(a * a) - mu_a * mu_a
    var_b = _box(b * b) - mu_b * mu_b
    cov = _box(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + _C1) * (2 * cov + _C2)) / (
        (mu_a * mu_a + mu_b * mu_b + _C1) * (var_a + var_b + _C2)
    )
    return np.asarray(index, dtype=np.float32)


def phase_shift(a: Grid, b: Grid) -> float:
    """How far `b` is moved from `a`, as the larger share of the grid's width or height."""
    height, width = a.shape
    window = np.outer(np.hanning(height), np.hanning(width)).astype(np.float32)
    cross = np.fft.rfft2(a * window) * np.conj(np.fft.rfft2(b * window))
    cross /= np.maximum(np.abs(cross), 1e-9)
    surface = np.fft.irfft2(cross, s=a.shape)
    dy, dx = np.unravel_index(int(np.argmax(surface)), surface.shape)
    # The peak's index wraps around: past half the grid it is a negative shift.
    dy = dy - height if dy > height // 2 else dy
    dx = dx - width if dx > width // 2 else dx
    shift: float = max(abs(int(dx)) / width, abs(int(dy)) / height)
    return shift


def _normalised(grid: Grid) -> Grid:
    centred = grid - grid.mean()
    normalised: Grid = (centred / max(float(centred.std()), 1e-6)).astype(np.float32)
    return normalised


def _box(grid: Grid) -> Grid:
    """The mean over each full `_WINDOW` x `_WINDOW` window (valid positions only) of the
    last two axes."""
    pad = [(0, 0)] * (grid.ndim - 2) + [(1, 0), (1, 0)]
    summed = np.cumsum(np.cumsum(np.pad(grid, pad), axis=-2), axis=-1)
    n = _WINDOW
    total = (
        summed[..., n:, n:] - summed[..., :-n, n:] - summed[..., n:, :-n] + summed[..., :-n, :-n]
    )
    mean: Grid = (total / (n * n)).astype(np.float32)
    return mean
