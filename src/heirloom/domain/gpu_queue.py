"""The GPU queue: one Temporal task queue for every model step, ordered by task priority.

Workflows and CPU steps stay on the tier queues. The model step of every job is dispatched to
`GPU_TASK_QUEUE` with a Temporal `Priority`: retries of failed jobs first, then paid and
forever, then free (the tiers' `gpu_priority`), and within a priority fairly across users (the
fairness key is the user id). The GPU queue's worker slots, summed over worker processes, equal
the GPU pool size, so at most that many RunPod jobs are in flight and the backlog waits in
Temporal, ordered, at no cost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

# A retry of a failed job goes before every first attempt.
RETRY_PRIORITY = 1


def model_step_priority(tier_priority: int, *, is_retry: bool) -> int:
    """The Temporal task priority key of a job's model step (1 is dispatched first)."""
    return RETRY_PRIORITY if is_retry else tier_priority


@dataclass(frozen=True)
class Waiting:
    """A job waiting for a GPU: whose, at what priority, since when (any sortable value)."""

    job_id: str
    user_id: str
    priority: int
    since: float


def position_in_queue(me: Waiting, waiting: Sequence[Waiting]) -> int:
    """How many waiting jobs Temporal dispatches before `me`: an estimate of its order.

    Every job of a higher priority goes first. Within a priority, dispatch is fair across
    users: before a user's k-th waiting job, each other user gets at most k turns (their
    min(jobs, k)), and the user's own k-1 earlier jobs go first.
    """
    ahead = sum(1 for other in waiting if other.priority < me.priority)
    same = [w for w in waiting if w.priority == me.priority and w.job_id != me.job_id]
    mine_before = sum(
        1 for w in same if w.user_id == me.user_id and (w.since, w.job_id) < (me.since, me.job_id)
    )
    turn = mine_before + 1
    others = Counter(w.user_id for w in same if w.user_id != me.user_id)
    return ahead + mine_before + sum(min(count, turn) for count in others.values())
