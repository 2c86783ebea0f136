"""A job's candidates: model runs with different seeds (domain/seeds.py try_seed), each
post-processed into its own result, thumbnail and comparison, from which the owner picks the
job's result. What the job row keeps of each, and how one is found."""

from __future__ import annotations

from typing import Any

from heirloom.domain.errors import InvalidRequest
from heirloom.domain.messages import PostprocessResult


def candidate_record(
    candidate: int,
    result: PostprocessResult,
    *,
    seed: int | None,
    provenance: dict[str, Any] | None,
    verdict: str,
) -> dict[str, Any]:
    """What the job row keeps of one candidate (jobs.candidate_results)."""
    return {
        "candidate": candidate,
        "seed": seed,
        "result_key": result.result_key,
        "thumbnail_key": result.thumbnail_key,
        "comparison_key": result.comparison_key,
        "width": result.width,
        "height": result.height,
        "provenance": provenance,
        "quality": verdict,
    }


def find_candidate(records: list[dict[str, Any]] | None, candidate: int) -> dict[str, Any]:
    """One of the job's kept candidates; InvalidRequest for a number it does not have."""
    for record in records or []:
        if record["candidate"] == candidate:
            return record
    numbers = [record["candidate"] for record in records or []]
    raise InvalidRequest(
        f"The job has no candidate {candidate}; it has {numbers or 'none'}.",
        candidate=candidate,
        candidates=numbers,
    )
