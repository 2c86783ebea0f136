"""The mutation catalogue stays true to the code: each mutation still applies where it says,
leaves valid Python (a syntax error would be "caught" by every test), and names tests that
exist. `python -m tests.mutations.run` applies them; this keeps them from rotting between runs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.mutations.catalogue import MUTATIONS, Mutation

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_mutation_applies_once_and_leaves_valid_python(mutation: Mutation) -> None:
    source = (ROOT / mutation.path).read_text()
    assert source.count(mutation.old) == 1, f"{mutation.name}: its text moved; update it"
    mutated = source.replace(mutation.old, mutation.new)
    assert mutated != source
    ast.parse(mutated, filename=mutation.path)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_mutation_names_tests_that_exist(mutation: Mutation) -> None:
    assert mutation.tests
    for node in mutation.tests:
        path, _, name = node.partition("::")
        test_file = ROOT / path
        assert test_file.is_file(), node
        assert f"def {name.split('[')[0]}(" in test_file.read_text(), node


def test_mutation_names_are_unique() -> None:
    names = [m.name for m in MUTATIONS]
    assert len(names) == len(set(names))
