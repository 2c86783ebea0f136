"""Harnesses that only tests and benchmarks use: the stack assembled in one process (`stack`),
the gated stack (`gated`), the stack as child processes (`processes`), workers in a thread or a
child process (`workers`), ASGI apps served in a thread (`serving`), the chaos driver (`chaos`).
They import the product; the product never imports them."""
