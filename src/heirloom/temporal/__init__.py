"""Temporal plumbing shared by the worker, the starters and the API: search attributes, task-queue
state and the job log context of activities."""
