"""The deterministic keys of a job's files: `users/{user_id}/jobs/{job_id}/{kind}.{ext}`, the
model outputs one per claim generation under `.../model/`, the run claims under `.../claims/`."""

from __future__ import annotations

import re
from typing import Final

KEY_KINDS: Final = (
    "original",
    "input",
    "result",
    "thumbnail",
    "comparison",
)

_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,128}")
_EXT_RE: Final = re.compile(r"[a-z0-9]{1,16}")


def job_key(user_id: str, job_id: str, kind: str, ext: str) -> str:
    """The deterministic key of one file of a job, e.g. `users/u1/jobs/j1/result.jpg`."""
    if kind not in KEY_KINDS:
        raise ValueError(f"unknown storage kind {kind!r}; expected one of {KEY_KINDS}")
    if not _EXT_RE.fullmatch(ext):
        raise ValueError(f"unsafe file extension {ext!r}")
    return f"{job_prefix(user_id, job_id)}{kind}.{ext}"


def candidate_key(user_id: str, job_id: str, candidate: int, kind: str) -> str:
    """Where one candidate's result, thumbnail or comparison is kept (always JPEG), e.g.
    `users/u1/jobs/j1/candidates/2/result.jpg`: under the job's prefix, so they are deleted
    with its result (retention, erasure, DELETE)."""
    if candidate < 1:
        raise ValueError(f"candidates count from 1, not {candidate}")
    if kind not in ("result", "thumbnail", "comparison"):
        raise ValueError(f"unknown candidate file {kind!r}")
    return f"{candidates_prefix(user_id, job_id)}{candidate}/{kind}.jpg"


def candidates_prefix(user_id: str, job_id: str) -> str:
    """The prefix of every candidate's files of a job, ending in `/`."""
    return f"{job_prefix(user_id, job_id)}candidates/"


def model_key(user_id: str, job_id: str, generation: int) -> str:
    """Where the model run of one claim generation writes its output, e.g.
    `users/u1/jobs/j1/model/0.png`: one object per generation, so a late upload of an abandoned
    or cancelled generation never lands where a later generation's result is read from (each
    quality-gate try opens its own generation too)."""
    if generation < 0:
        raise ValueError(f"negative model generation {generation}")
    return f"{model_outputs_prefix(user_id, job_id)}{generation}.png"


def model_outputs_prefix(user_id: str, job_id: str) -> str:
    """The prefix of every generation's model output of a job, ending in `/`."""
    return f"{job_prefix(user_id, job_id)}model/"


def job_prefix(user_id: str, job_id: str) -> str:
    """The prefix holding every file of one job, ending in `/`."""
    for name, value in (("user_id", user_id), ("job_id", job_id)):
        if not _ID_RE.fullmatch(value):
            raise ValueError(f"unsafe {name} {value!r}")
    return f"users/{user_id}/jobs/{job_id}/"


def claim_key(user_id: str, job_id: str, generation: int) -> str:
    """The key of the model-run claim of one generation of a job (runpod/model_step.py)."""
    if generation < 0:
        raise ValueError(f"negative claim generation {generation}")
    return f"{claims_prefix(user_id, job_id)}{generation}.json"


def claims_prefix(user_id: str, job_id: str) -> str:
    """The prefix of every model-run claim of a job, ending in `/`."""
    return f"{job_prefix(user_id, job_id)}claims/"
