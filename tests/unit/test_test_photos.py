"""The suite's generated photos are reproducible, so a failure can be replayed exactly."""

from __future__ import annotations

from tests.support import photo_bytes


def test_a_photo_is_the_same_bytes_for_the_same_seed_and_differs_for_another() -> None:
    assert photo_bytes(320, 240, seed=3) == photo_bytes(320, 240, seed=3)
    assert photo_bytes(320, 240, seed=3) != photo_bytes(320, 240, seed=4)
