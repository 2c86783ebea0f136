"""Sanity: the model output is a picture at all, and has the input's framing."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from heirloom.domain.quality import Reason, Verdict

# Below this mean luminance (0..255) a blank output is the all-black image of a model whose
# numbers overflowed (NaN decoded as 0), rather than a flat grey or white one.
_BLACK_MEAN = 8.0


@dataclass(frozen=True)
class SanityResult:
    verdict: Verdict
    reason: Reason | None = None


def check_sanity(
    output_luma: npt.NDArray[np.float32],
    output_size: tuple[int, int],
    input_size: tuple[int, int],
    *,
    blank_max_std: float,
    aspect_tolerance: float,
) -> SanityResult:
    """Fail a near-constant output (blank or black) or one whose aspect ratio is not the
    input's within `aspect_tolerance` (a relative difference: 0.02 is 2 %)."""
    if float(output_luma.std()) < blank_max_std:
        reason = Reason.BLACK if float(output_luma.mean()) < _BLACK_MEAN else Reason.BLANK
        return SanityResult(Verdict.FAILED, reason)
    if abs(math.log(_aspect(output_size) / _aspect(input_size))) > math.log1p(aspect_tolerance):
        return SanityResult(Verdict.FAILED, Reason.FRAMING)
    return SanityResult(Verdict.PASSED)


def _aspect(size: tuple[int, int]) -> float:
    width, height = size
    return width / height
