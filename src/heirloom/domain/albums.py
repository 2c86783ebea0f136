"""Albums' ids: the album's workflow, and its photos' job ids (which sort in upload order)."""

from __future__ import annotations


def album_workflow_id(album_id: str) -> str:
    """The album's workflow id; its photos' runs take their job ids."""
    return f"album-{album_id}"


def album_job_id(album_id: str, number: int) -> str:
    """The job id of the album's `number`-th photo (from 1): the album id's first 26
    characters (104 random bits) and the number, so an album's jobs sort in upload order."""
    if not 1 <= number < 1_000_000:
        raise ValueError(f"photo number {number} out of range")
    return f"{album_id[:26]}{number:06d}"
