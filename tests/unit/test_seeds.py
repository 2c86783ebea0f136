"""The seed rule: a plain retry repeats the picture, a new-seed retry draws another."""

from __future__ import annotations

from dataclasses import dataclass

from heirloom.domain.seeds import SEED_LIMIT, job_seed, retry_key, seed_origin


@dataclass(frozen=True)
class Row:
    id: str
    retry_of: str | None = None
    idempotency_key: str | None = None


def chain(*rows: Row) -> dict[str, Row]:
    return {row.id: row for row in rows}


def test_a_seed_is_stable_and_in_range() -> None:
    seeds = {job_seed(f"job{i}") for i in range(500)}
    assert job_seed("job7") == job_seed("job7")
    assert all(0 <= seed < SEED_LIMIT for seed in seeds)
    assert len(seeds) == 500


def test_a_fresh_job_is_its_own_origin() -> None:
    rows = chain(Row("a", idempotency_key="client-key"))
    assert seed_origin(rows["a"], rows.__getitem__) == "a"


def test_plain_retries_lead_back_to_the_first_job() -> None:
    rows = chain(
        Row("a"),
        Row("b", retry_of="a", idempotency_key=retry_key("a", new_seed=False)),
        Row("c", retry_of="b", idempotency_key=retry_key("b", new_seed=False)),
    )
    assert seed_origin(rows["c"], rows.__getitem__) == "a"


def test_a_new_seed_retry_starts_a_new_origin_that_its_retries_keep() -> None:
    rows = chain(
        Row("a"),
        Row("b", retry_of="a", idempotency_key=retry_key("a", new_seed=True)),
        Row("c", retry_of="b", idempotency_key=retry_key("b", new_seed=False)),
    )
    assert seed_origin(rows["b"], rows.__getitem__) == "b"
    assert seed_origin(rows["c"], rows.__getitem__) == "b"


def test_retry_keys_differ_by_kind() -> None:
    assert retry_key("a", new_seed=False) == "retry:a"
    assert retry_key("a", new_seed=True) != retry_key("a", new_seed=False)
