"""The GPU queue: one Temporal task queue for every model step, ordered by task priority.

Workflows and CPU steps stay on the tier queues. The model step of every job is dispatched to
`GPU_TASK_QUEUE` with a Temporal `Priority`: retries of failed jobs first, then paid and
forever, then free (the tiers' `gpu_priority`), and within a priority fairly across users (the
fairness key is the user id). The GPU queue's worker slots, summed over worker processes, equal
the GPU pool size, so at most that many RunPod jobs are in flight and the backlog waits in
Temporal, ordered, at no cost.
"""

from __future__ import annotations

GPU_TASK_QUEUE = "heirloom-gpu"

# A retry of a failed job goes before every first attempt.
RETRY_PRIORITY = 1


def model_step_priority(tier_priority: int, *, is_retry: bool) -> int:
    """The Temporal task priority key of a job's model step (1 is dispatched first)."""
    return RETRY_PRIORITY if is_retry else tier_priority
