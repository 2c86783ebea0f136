"""The quality gate's rule: which model output a job keeps, whether the model runs once more,
and what the user is told. Pure: the checks' verdicts in, a decision out.

A model output that is blank or has lost the photo's framing (sanity) or its picture
(structure) is unusable: the model runs once more with a new seed, and if that fails too the
job fails and is refunded. An output whose faces no longer look like the input's (identity)
is still the user's photo: after the second try the job completes with the better result,
flagged so the user knows the faces may differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# How many model outputs a job may be checked on: the first, and one more with a new seed.
GATE_TRIES = 2


class Verdict(StrEnum):
    """One check's answer on one model output."""

    PASSED = "passed"
    FAILED = "failed"
    # Nothing to check: no face in the input, the gate switched off, or colour-only work whose
    # result keeps the input's luminance by construction.
    SKIPPED = "skipped"


class Outcome(StrEnum):
    """What the job does after a check."""

    ACCEPT = "accept"
    RETRY = "retry"
    ACCEPT_FLAGGED = "accept_flagged"
    REJECT = "reject"


class Reason(StrEnum):
    """Why a check failed, for operators and the job's quality record."""

    UNDECODABLE = "undecodable"
    BLANK = "blank"
    BLACK = "black"
    FRAMING = "framing"
    SHIFTED = "shifted"
    DIFFERENT_PICTURE = "different_picture"
    DIFFERENT_FACE = "different_face"


@dataclass(frozen=True)
class TryReport:
    """What the gate found in one model output."""

    sanity: Verdict
    structure: Verdict
    identity: Verdict
    # The first failed check's reason; None when every check passed or was skipped.
    reason: Reason | None = None
    faces_found: int = 0
    # The largest face-embedding distance over the input's faces matched in the output.
    identity_distance: float | None = None
    # The lowest structure score (SSIM) of a compared face's region, input against output:
    # low when a face from another photo was pasted in, even one whose embedding is close.
    face_structure_score: float | None = None
    # Similarity of the output's luminance to the input's, 1.0 the same picture.
    structure_score: float | None = None
    # How far the picture moved, as a share of the frame.
    shift: float | None = None
    cpu_ms: float = 0.0

    @property
    def passed(self) -> bool:
        return Verdict.FAILED not in (self.sanity, self.structure, self.identity)

    @property
    def usable(self) -> bool:
        """The photo came back whole: only the faces may differ."""
        return Verdict.FAILED not in (self.sanity, self.structure)


@dataclass(frozen=True)
class GateDecision:
    """What to do now, and which try's output the job keeps when it ends with one."""

    outcome: Outcome
    kept: int | None = None


def decide(reports: Sequence[TryReport], *, model_attempts_left: int) -> GateDecision:
    """After the latest check: keep a passing output; else try again while tries and the
    tier's model attempts remain; else keep the best usable output flagged, or reject."""
    if not reports:
        raise ValueError("decide needs at least one checked output")
    latest = len(reports) - 1
    if reports[latest].passed:
        return GateDecision(Outcome.ACCEPT, kept=latest)
    if len(reports) < GATE_TRIES and model_attempts_left > 0:
        return GateDecision(Outcome.RETRY)
    best = best_try(reports)
    if reports[best].usable:
        return GateDecision(Outcome.ACCEPT_FLAGGED, kept=best)
    return GateDecision(Outcome.REJECT)


def best_try(reports: Sequence[TryReport]) -> int:
    """The output a user would rather have: one that passed, else a usable one whose faces
    are closest to the input's, else the latest."""

    def rank(index: int) -> tuple[int, float, int]:
        report = reports[index]
        distance = report.identity_distance if report.identity_distance is not None else 0.0
        return (0 if report.passed else 1 if report.usable else 2, distance, -index)

    return min(range(len(reports)), key=rank)


def quality_record(reports: Sequence[TryReport], decision: GateDecision) -> dict[str, Any]:
    """The job's `quality`: the kept output's checks and scores, the tries it took, and a
    sentence for the user. JSON-ready; the API, events and web app show it as it is."""
    kept = reports[decision.kept] if decision.kept is not None else reports[-1]
    verdict = {
        Outcome.ACCEPT: "passed",
        Outcome.ACCEPT_FLAGGED: "flagged",
        Outcome.REJECT: "failed",
    }.get(decision.outcome, "checking")
    if verdict == "passed" and kept.sanity is Verdict.SKIPPED:
        verdict = "not_checked"
    return {
        "verdict": verdict,
        "tries": len(reports),
        "faces_found": kept.faces_found,
        "identity_distance": _rounded(kept.identity_distance),
        "structure_score": _rounded(kept.structure_score),
        "checks": {
            "sanity": kept.sanity.value,
            "structure": kept.structure.value,
            "identity": kept.identity.value,
        },
        "reason": kept.reason.value if kept.reason is not None else None,
        "summary": summary(verdict, kept),
    }


def summary(verdict: str, kept: TryReport) -> str:
    """The plain sentence a user reads beside the result."""
    if verdict == "flagged":
        return "The faces may differ from the original: compare them before you share it."
    if verdict == "failed":
        return "The result came back unusable, so it was not delivered."
    if verdict == "not_checked":
        return "Quality checks were not run on this result."
    if kept.identity is Verdict.PASSED:
        faces = "face still looks" if kept.faces_found == 1 else "faces still look"
        return (
            f"Checked: the photo kept its framing and detail, and the {faces} like the same person."
        )
    return "Checked: the photo kept its framing and detail."


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
