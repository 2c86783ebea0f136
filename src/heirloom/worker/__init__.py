"""The worker process: which task queues it polls and with what capacity."""
