"""Blocking service calls from a starter's coroutine, on the same worker threads as FastAPI's."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread

P = ParamSpec("P")
T = TypeVar("T")


async def blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking call (database, storage, Pillow) on anyio's thread pool.

    The pool FastAPI's `run_in_threadpool` uses (40 threads), not asyncio's default executor,
    which has cores + 4 threads and would queue a busy API's submissions behind each other.
    """
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
