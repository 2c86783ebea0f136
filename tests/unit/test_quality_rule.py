"""domain/quality.py: which output a job keeps, when the model runs again, what users read."""

from __future__ import annotations

from heirloom.domain.quality import (
    GATE_TRIES,
    GateDecision,
    Outcome,
    Reason,
    TryReport,
    Verdict,
    decide,
    quality_record,
)
from heirloom.domain.seeds import try_seed

P, F, S = Verdict.PASSED, Verdict.FAILED, Verdict.SKIPPED
GOOD = TryReport(P, P, P, faces_found=1, identity_distance=0.2, structure_score=0.9)
NO_FACES = TryReport(P, P, S, structure_score=0.9)
OTHER_FACE = TryReport(P, P, F, Reason.DIFFERENT_FACE, faces_found=1, identity_distance=0.8)
CLOSER_FACE = TryReport(P, P, F, Reason.DIFFERENT_FACE, faces_found=1, identity_distance=0.7)
BLANK = TryReport(F, S, S, Reason.BLANK)
CROPPED = TryReport(F, S, S, Reason.FRAMING)


def test_a_passing_first_output_is_kept_without_a_second_try() -> None:
    assert decide([GOOD], model_attempts_left=3) == GateDecision(Outcome.ACCEPT, kept=0)
    assert decide([NO_FACES], model_attempts_left=0) == GateDecision(Outcome.ACCEPT, kept=0)


def test_any_failed_check_tries_again_while_tries_and_model_attempts_remain() -> None:
    for failed in (OTHER_FACE, BLANK, CROPPED):
        assert decide([failed], model_attempts_left=1).outcome is Outcome.RETRY


def test_no_second_try_once_the_tiers_model_attempts_are_used() -> None:
    assert decide([OTHER_FACE], model_attempts_left=0) == GateDecision(
        Outcome.ACCEPT_FLAGGED, kept=0
    )
    assert decide([BLANK], model_attempts_left=0) == GateDecision(Outcome.REJECT)


def test_only_one_more_try_however_many_attempts_are_left() -> None:
    assert GATE_TRIES == 2
    assert decide([BLANK, BLANK], model_attempts_left=5).outcome is Outcome.REJECT


def test_a_second_output_that_passes_is_kept() -> None:
    assert decide([OTHER_FACE, GOOD], model_attempts_left=1) == GateDecision(Outcome.ACCEPT, kept=1)


def test_faces_that_differ_twice_complete_flagged_with_the_closer_faces() -> None:
    decision = decide([OTHER_FACE, CLOSER_FACE], model_attempts_left=2)
    assert decision == GateDecision(Outcome.ACCEPT_FLAGGED, kept=1)
    record = quality_record([OTHER_FACE, CLOSER_FACE], decision)
    assert record["verdict"] == "flagged"
    assert record["tries"] == 2
    assert record["identity_distance"] == 0.7
    assert record["checks"] == {"sanity": "passed", "structure": "passed", "identity": "failed"}
    assert "faces may differ" in record["summary"]


def test_blank_or_cropped_twice_is_rejected_but_a_usable_output_beats_a_blank_one() -> None:
    assert decide([BLANK, CROPPED], model_attempts_left=2) == GateDecision(Outcome.REJECT)
    assert decide([BLANK, OTHER_FACE], model_attempts_left=2) == GateDecision(
        Outcome.ACCEPT_FLAGGED, kept=1
    )
    assert decide([OTHER_FACE, BLANK], model_attempts_left=2) == GateDecision(
        Outcome.ACCEPT_FLAGGED, kept=0
    )
    rejected = quality_record([BLANK, CROPPED], GateDecision(Outcome.REJECT))
    assert (rejected["verdict"], rejected["reason"]) == ("failed", "framing")


def test_the_record_tells_the_user_in_plain_words() -> None:
    passed = quality_record([GOOD], GateDecision(Outcome.ACCEPT, kept=0))
    assert passed["verdict"] == "passed"
    assert passed["summary"].startswith("Checked:")
    assert "same person" in passed["summary"]
    unchecked = TryReport(S, S, S)
    record = quality_record([unchecked], decide([unchecked], model_attempts_left=1))
    assert record["verdict"] == "not_checked"


def test_the_second_try_draws_a_new_seed_the_same_on_every_replay() -> None:
    assert try_seed(1234, "job-a", 1) == 1234
    assert try_seed(None, "job-a", 1) is None
    second = try_seed(1234, "job-a", 2)
    assert second is not None
    assert second != 1234
    assert second == try_seed(1234, "job-a", 2)
    assert 0 <= second < 2**32
    assert try_seed(None, "job-a", 2) == try_seed(None, "job-a", 2)
