"""The GPU engine's prompts: one per operation set, all keeping the people who they are."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from heirloom.domain.jobs import Operation
from heirloom.gpu_handler.prompts import KEEP_PEOPLE, NEGATIVE_PROMPT, PROMPTS, prompt_for

# A change of wording changes what customers get: update these digests deliberately.
PINNED = {
    "restore": "2ad702b5b1b9c5dd",
    "colorize": "98701e9a1d99ad08",
    "restore,colorize": "006098f7276e6fee",
    "negative": "ae7c2d268b9130f4",
}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_every_operation_set_has_a_prompt() -> None:
    combos = {
        tuple(op for op in Operation if op in chosen)
        for size in (1, 2)
        for chosen in itertools.combinations(Operation, size)
    }
    assert set(PROMPTS) == combos


@pytest.mark.parametrize("operations", list(PROMPTS))
def test_each_prompt_keeps_faces_expressions_and_composition(
    operations: tuple[Operation, ...],
) -> None:
    prompt = PROMPTS[operations].lower()
    for phrase in ("face", "expression", "identity", "composition", "do not add, remove or move"):
        assert phrase in prompt, phrase
    assert prompt.endswith(KEEP_PEOPLE.lower())


def test_prompts_ask_for_what_each_operation_does() -> None:
    assert "colori" not in PROMPTS[(Operation.RESTORE,)].lower().split(":")[0]
    assert "restore" not in PROMPTS[(Operation.COLORIZE,)].lower()
    both = PROMPTS[(Operation.RESTORE, Operation.COLORIZE)].lower()
    assert "restore" in both
    assert "colorize" in both


def test_the_negative_prompt_rejects_identity_drift() -> None:
    for phrase in ("changed identity", "different face", "altered expression", "extra people"):
        assert phrase in NEGATIVE_PROMPT


def test_prompt_for_takes_operations_in_any_order() -> None:
    both = (Operation.COLORIZE, Operation.RESTORE)
    assert prompt_for(both) == PROMPTS[(Operation.RESTORE, Operation.COLORIZE)]


def test_the_wording_is_pinned() -> None:
    actual = {",".join(ops): digest(text) for ops, text in PROMPTS.items()}
    actual["negative"] = digest(NEGATIVE_PROMPT)
    assert actual == PINNED
