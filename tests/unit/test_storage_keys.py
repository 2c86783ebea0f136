"""Storage keys are deterministic, per user and job, and refuse anything unsafe."""

from __future__ import annotations

import pytest

from heirloom.services.storage.keys import (
    KEY_KINDS,
    claim_key,
    job_key,
    job_prefix,
    model_key,
    model_outputs_prefix,
)


def test_job_key_has_the_documented_layout() -> None:
    assert job_key("u_1", "job-9", "result", "jpg") == "users/u_1/jobs/job-9/result.jpg"


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_every_kind_lives_under_the_job_prefix(kind: str) -> None:
    key = job_key("u1", "j1", kind, "png")
    assert key.startswith(job_prefix("u1", "j1"))
    assert key.endswith(f"/{kind}.png")


def test_keys_of_different_users_jobs_kinds_or_formats_never_collide() -> None:
    keys = {
        job_key(user, job, kind, ext)
        for user in ("u1", "u2")
        for job in ("j1", "j2")
        for kind in KEY_KINDS
        for ext in ("jpg", "png")
    }
    assert len(keys) == 2 * 2 * len(KEY_KINDS) * 2


def test_job_prefix_ends_with_a_slash_so_one_job_never_matches_another() -> None:
    assert job_prefix("u1", "j1") == "users/u1/jobs/j1/"
    assert not job_key("u1", "j10", "result", "jpg").startswith(job_prefix("u1", "j1"))


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        job_key("u1", "j1", "secret", "jpg")


@pytest.mark.parametrize(
    "unsafe_id", ["", "..", ".", "a/b", "a\\b", "a b", "a.b", "ü", "id\n", "x" * 129]
)
def test_unsafe_ids_are_refused(unsafe_id: str) -> None:
    with pytest.raises(ValueError, match="user_id"):
        job_prefix(unsafe_id, "j1")
    with pytest.raises(ValueError, match="job_id"):
        job_prefix("u1", unsafe_id)
    with pytest.raises(ValueError, match="unsafe"):
        job_key(unsafe_id, "j1", "result", "jpg")
    with pytest.raises(ValueError, match="unsafe"):
        job_key("u1", unsafe_id, "result", "jpg")


@pytest.mark.parametrize("unsafe_ext", ["", "JPG", ".jpg", "tar.gz", "jp/g", "jp_g", "png\n"])
def test_unsafe_extensions_are_refused(unsafe_ext: str) -> None:
    with pytest.raises(ValueError, match="extension"):
        job_key("u1", "j1", "result", unsafe_ext)


def test_claim_keys_are_per_generation_under_the_job_prefix() -> None:
    assert claim_key("u1", "j1", 0) == "users/u1/jobs/j1/claims/0.json"
    assert claim_key("u1", "j1", 1) != claim_key("u1", "j1", 0)
    assert claim_key("u1", "j1", 3).startswith(job_prefix("u1", "j1"))


def test_negative_claim_generation_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        claim_key("u1", "j1", -1)


def test_model_outputs_are_one_object_per_generation_under_their_own_prefix() -> None:
    assert model_key("u1", "j1", 0) == "users/u1/jobs/j1/model/0.png"
    keys = {model_key("u1", "j1", generation) for generation in range(4)}
    assert len(keys) == 4
    assert all(key.startswith(model_outputs_prefix("u1", "j1")) for key in keys)
    assert model_outputs_prefix("u1", "j1").startswith(job_prefix("u1", "j1"))
    # Neither a job file nor a claim shares a key with a model output.
    assert keys.isdisjoint({job_key("u1", "j1", kind, "png") for kind in KEY_KINDS})
    assert keys.isdisjoint({claim_key("u1", "j1", generation) for generation in range(4)})


def test_negative_model_generation_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        model_key("u1", "j1", -1)
