"""Harnesses that only tests and benchmarks use: workers in a thread, the chaos driver, ASGI apps
served in a thread. They import the product; the product never imports them."""
