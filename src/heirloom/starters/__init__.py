"""The client side of each workflow: starting, cancelling and querying runs from the API or CLI.

One module per workflow (as temporalio/samples-python's `starter.py`): the API and the CLI
call these and never import the worker; task-queue names come from `domain.task_queues`.
"""
