"""The GPU queue: positions and waits, Temporal's task-queue state, queue-metrics snapshots."""
