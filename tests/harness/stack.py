"""The stack assembled in one test (or benchmark) process, the one way tests build it.

`running_stack` serves the local RunPod endpoint, builds the services on a migrated database,
starts the product's workers and serves the API, each in a thread of this process; `serving`
is its second half alone, for an API (or workers) beside a stack that already runs.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heirloom.api.app import create_app
from heirloom.config import Settings
from heirloom.db import migrate
from heirloom.devstack.endpoint import FaultAfterRun, create_endpoint_app
from heirloom.domain.tiers import Tier
from heirloom.services.accounts.users import ROLE_ADMIN
from heirloom.services.context import Services
from heirloom.services.storage.s3 import S3Storage
from tests.harness.serving import serve_app
from tests.harness.workers import WorkerThread

# What every assembled stack sets beyond where things are; a caller's settings win.
STACK_SETTINGS: dict[str, Any] = {
    # A model step hears RunPod's answer within a tenth of a second.
    "runpod_poll_interval_s": 0.1,
    # Tests check what a submission costs, not how long it takes: on a loaded machine a burst
    # of submissions waits many seconds for its reservations (Temporal updates). The 503 a
    # slow reservation gets has tests of its own, on services with their own timeout.
    "submit_timeout_s": 60.0,
    # /metrics needs its token; tests scrape before and after a job, so nothing is reused.
    "metrics_token": "stack-metrics-token",
    "metrics_cache_s": 0.0,
}


class LocalNames:
    """The test stacks' resolver for webhook hosts: `localhost` and `*.localhost` are loopback
    (RFC 6761), every other name does not resolve, as on a machine without DNS. A host name a
    test or a fuzzer makes up never reaches a real DNS server; `asked` counts the lookups."""

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked[host] += 1
        name = host.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            return ["127.0.0.1"]
        raise OSError(f"{host!r} is not resolved in tests: only localhost names are")


# Builds the workers run beside the API: WorkerThread, a subclass, or None for no worker.
WorkerFactory = Callable[[Services], WorkerThread]


@dataclass
class Serving:
    """Services on one settings, and the URL of the API served on them ("" where none is)."""

    settings: Settings
    services: Services
    api_url: str


@dataclass
class RunningStack(Serving):
    """What `running_stack` started: `Serving`, the local endpoint's URL and the API's admin
    key ("" without the API)."""

    runpod_url: str
    admin_key: str


@contextlib.contextmanager
def local_endpoint(
    settings: Settings, *, fault_after_run: FaultAfterRun | None = None
) -> Iterator[str]:
    """The local RunPod endpoint on `settings`, served in a thread; yields its URL (the API
    base URL is that plus `/v2`)."""
    with serve_app(create_endpoint_app(settings, fault_after_run=fault_after_run)) as url:
        yield url


@contextlib.contextmanager
def serving(
    settings: Settings,
    *,
    worker: WorkerFactory | None = None,
    api: bool = True,
    pool_size: int = 10,
    before_close: Callable[[Services], None] | None = None,
) -> Iterator[Serving]:
    """Services on `settings` (their database migrated), the workers `worker` builds on them
    and the API, in threads; stopped in reverse order. `before_close` sees the services after
    the API and the workers stopped, before they close."""
    services = Services.build(settings, pool_size=pool_size)
    # Webhook and callback hosts resolve locally, at registration and at delivery alike.
    services.webhooks.resolver = LocalNames()
    try:
        if isinstance(services.storage, S3Storage):
            services.storage.ensure_bucket()
        with contextlib.ExitStack() as running:
            if worker is not None:
                running.enter_context(worker(services))
            api_url = ""
            if api:
                api_url = running.enter_context(serve_app(create_app(settings, services=services)))
            yield Serving(settings, services, api_url)
        if before_close is not None:
            before_close(services)
    finally:
        services.close()


@contextlib.contextmanager
def running_stack(
    home: Path,
    database_url: str,
    temporal_address: str,
    namespace: str,
    *,
    runpod_key: str = "stack-key",
    endpoint: Mapping[str, Any] | None = None,
    fault_after_run: FaultAfterRun | None = None,
    worker: WorkerFactory | None = WorkerThread,
    api: bool = True,
    pool_size: int = 10,
    before_close: Callable[[Services], None] | None = None,
    **overrides: Any,
) -> Iterator[RunningStack]:
    """The stack on `database_url` (migrated here) and a Temporal server's `namespace`.

    The local RunPod endpoint (its Settings: `home`, `runpod_key` and `endpoint`) shares
    `home` with the services, whose Settings are STACK_SETTINGS and `overrides`. With `api`,
    an admin account is created and the API is served; `worker` builds the workers (None: the
    test starts its own). `before_close` as in `serving`.
    """
    migrate.upgrade(database_url)
    endpoint_settings = Settings(home=home, runpod_api_key=runpod_key, **(endpoint or {}))
    with local_endpoint(endpoint_settings, fault_after_run=fault_after_run) as runpod_url:
        settings = Settings(
            **{
                **STACK_SETTINGS,
                "home": home,
                "database_url": database_url,
                "temporal_address": temporal_address,
                "temporal_namespace": namespace,
                "runpod_api_key": runpod_key,
                "runpod_base_url": f"{runpod_url}/v2",
                **overrides,
            }
        )
        with serving(
            settings, worker=worker, api=api, pool_size=pool_size, before_close=before_close
        ) as served:
            admin_key = ""
            if api:
                admin_key = served.services.accounts.create(
                    email="admin@example.com", tier=Tier.FOREVER, role=ROLE_ADMIN
                ).api_key
            yield RunningStack(settings, served.services, served.api_url, runpod_url, admin_key)
