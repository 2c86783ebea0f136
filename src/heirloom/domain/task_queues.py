"""Every Temporal task queue Heirloom uses, named once.

Each tier's queue takes its restoration workflows and their CPU steps; the GPU queue takes
every model step, ordered by task priority (domain/gpu_queue.py); the operations queue takes
the periodic, erasure and webhook workflows; the export queue takes the data exports, which
can run long, so the operations queue's slots never wait behind one. Every worker process
polls the ops and export queues.
"""

from __future__ import annotations

OPS_TASK_QUEUE = "heirloom-ops"
GPU_TASK_QUEUE = "heirloom-gpu"
EXPORT_TASK_QUEUE = "heirloom-export"
_TIER_QUEUE_PREFIX = "heirloom-"


def tier_task_queue(tier: str) -> str:
    """The task queue of one tier's workflows (`heirloom-free`, `heirloom-paid`, ...)."""
    return f"{_TIER_QUEUE_PREFIX}{tier}"
