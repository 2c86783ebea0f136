"""Every Temporal task queue Heirloom uses, named once.

Each tier's queue takes its restoration workflows and their CPU steps; the GPU queue takes
every model step, ordered by task priority (domain/gpu_queue.py); the operations queue takes
the periodic, erasure, export and webhook workflows. Every worker process polls the ops queue.
"""

from __future__ import annotations

OPS_TASK_QUEUE = "heirloom-ops"
GPU_TASK_QUEUE = "heirloom-gpu"
_TIER_QUEUE_PREFIX = "heirloom-"


def tier_task_queue(tier: str) -> str:
    """The task queue of one tier's workflows (`heirloom-free`, `heirloom-paid`, ...)."""
    return f"{_TIER_QUEUE_PREFIX}{tier}"
