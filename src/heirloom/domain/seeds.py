"""Which seed a job's model call uses: the same picture on a retry, another one on request.

A job's seed derives from its seed origin: the job itself, unless it is a plain retry, whose
origin is the origin of the job it retries. A retry that asks for a new seed is its own origin,
so it draws a new picture and its own plain retries keep that picture.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Protocol

# Seeds fit in 32 bits: every sampler takes them, and JSON carries them exactly.
SEED_LIMIT = 2**32

# Idempotency keys of retries; the prefix tells a new-seed retry from a plain one.
_RETRY_PREFIX = "retry:"
_RESEED_PREFIX = "reseed:"


class RetryLink(Protocol):
    """What the seed rule reads from a job row."""

    @property
    def id(self) -> str: ...

    @property
    def retry_of(self) -> str | None: ...

    @property
    def idempotency_key(self) -> str | None: ...


def job_seed(origin_job_id: str) -> int:
    """The seed of every job whose seed origin is `origin_job_id`."""
    digest = hashlib.sha256(f"heirloom-seed:{origin_job_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def try_seed(seed: int | None, job_id: str, model_try: int) -> int | None:
    """The seed of a job's `model_try`-th model output: the job's own for the first, a new
    picture for the quality gate's next try (the same one on every replay)."""
    if model_try == 1:
        return seed
    origin = job_seed(job_id) if seed is None else seed
    digest = hashlib.sha256(f"heirloom-seed:{origin}:try-{model_try}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def retry_key(job_id: str, *, new_seed: bool) -> str:
    """The idempotency key of a retry of `job_id`: repeating the request starts no second job."""
    return f"{_RESEED_PREFIX if new_seed else _RETRY_PREFIX}{job_id}"


def seed_origin(job: RetryLink, lookup: Callable[[str], RetryLink]) -> str:
    """The job id the seed of `job` derives from, following plain retries back to their origin."""
    while job.retry_of is not None and not (job.idempotency_key or "").startswith(_RESEED_PREFIX):
        job = lookup(job.retry_of)
    return job.id
