"""The area the GPU engine draws at: near the setting, the input's shape, on a 32 px grid."""

from __future__ import annotations

import pytest

from heirloom.gpu_handler.engines import working_size

MEGAPIXEL = 1024 * 1024


@pytest.mark.parametrize("size", [(1024, 1024), (4000, 3000), (600, 900), (1280, 720), (90, 60)])
def test_the_working_size_keeps_the_shape_near_the_area(size: tuple[int, int]) -> None:
    width, height = working_size(size, MEGAPIXEL)
    assert width % 32 == 0
    assert height % 32 == 0
    assert abs(width * height - MEGAPIXEL) / MEGAPIXEL < 0.08
    assert abs(width / height - size[0] / size[1]) < 0.05


def test_a_square_megapixel_is_1024_square() -> None:
    assert working_size((3000, 3000), MEGAPIXEL) == (1024, 1024)


def test_extreme_shapes_keep_at_least_one_grid_cell() -> None:
    assert working_size((10_000, 10), 64 * 64) == (2016, 32)
