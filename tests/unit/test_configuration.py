"""Configuration as one documented table: every setting is described and classified, the checked-in
reference matches its generator, and a mistyped HEIRLOOM_* variable stops a process at start."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import SettingsError

from heirloom import cli, config_reference
from heirloom.config import (
    NOT_SETTINGS,
    Audience,
    FaultSettings,
    QwenSettings,
    Section,
    Settings,
    environment_errors,
    variable_names,
)
from heirloom.domain.pricing import Prices
from heirloom.domain.tiers import TierRules

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "configuration.md"
ENV_EXAMPLE = ROOT / ".env.example"
COMPOSE_FILE = ROOT / "docker-compose.yml"
# Where the project uses HEIRLOOM_* names: code, tests, benchmarks, CI and deploy files.
USING_NAMES = ("src", "tests", "bench", "deploy", ".ci")
DEPLOY_FILES = ("Dockerfile", "Dockerfile.runpod", "docker-compose.yml", ".env.example", "Makefile")
# Files that spell unknown names on purpose, as examples of what the check refuses.
MISTYPING_ON_PURPOSE = (
    Path(__file__).resolve(),
    ROOT / "src" / "heirloom" / "config_reference.py",
)
NAME = re.compile(r"HEIRLOOM_[A-Z0-9_]*[A-Z0-9]")
# `${NAME}`, `${NAME:?message}`, `$NAME` in compose values.
SUBSTITUTION = re.compile(r"\$\{?(?P<name>[A-Za-z_][A-Za-z0-9_]*)")

CONFIG_MODELS: tuple[type[BaseModel], ...] = (Settings, FaultSettings, QwenSettings)
# The domain's models know nothing of configuration: the field holding them gives the audience.
DOMAIN_MODELS: tuple[type[BaseModel], ...] = (Prices, TierRules)


def _extra(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return dict(extra) if isinstance(extra, dict) else {}


def _fields(*models: type[BaseModel]) -> Iterator[tuple[str, FieldInfo]]:
    for model in models:
        for name, field in model.model_fields.items():
            yield f"{model.__name__}.{name}", field


def _known() -> frozenset[str]:
    return variable_names() | NOT_SETTINGS.keys()


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The test process's environment without any HEIRLOOM_* variable."""
    for name in list(os.environ):
        if name.upper().startswith("HEIRLOOM_"):
            monkeypatch.delenv(name)
    return monkeypatch


# --- every setting documented ----------------------------------------------------------------


def test_every_setting_has_a_description_and_says_who_sets_it() -> None:
    audiences = typing.get_args(Audience)
    undocumented = [
        name
        for name, field in _fields(*CONFIG_MODELS, *DOMAIN_MODELS)
        if not (field.description or "").strip()
    ]
    unclassified = [
        name
        for name, field in _fields(*CONFIG_MODELS)
        if _extra(field).get("audience") not in audiences
    ]
    assert undocumented == [], "give these fields a Field(description=...)"
    assert unclassified == [], "give these fields json_schema_extra=about(<audience>, ...)"


def test_every_setting_belongs_to_a_section_in_the_order_of_the_reference() -> None:
    order = typing.get_args(Section)
    sections = [_extra(field).get("section") for field in Settings.model_fields.values()]
    assert all(section in order for section in sections), "about(<audience>, <section>)"
    positions = [order.index(section) for section in sections]
    assert positions == sorted(positions), "declare Settings' fields section by section"


def test_every_row_of_the_reference_has_a_description_and_an_audience() -> None:
    audiences = typing.get_args(Audience)
    rows = [row for table in config_reference.tables() for row in table.rows]
    assert [row.variable for row in rows if not row.description] == []
    assert [row.variable for row in rows if row.audience not in audiences] == []
    # Each documented variable is one the start-up check accepts.
    listed = {row.variable.replace("<TIER>", "FREE") for row in rows}
    assert listed - variable_names() == set()


def test_the_checked_in_reference_is_up_to_date() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == config_reference.markdown(), (
        "docs/configuration.md is stale: run make config-docs"
    )


def test_the_reference_is_the_same_on_every_machine() -> None:
    text = config_reference.markdown()
    assert text == config_reference.markdown()
    assert str(ROOT) not in text
    assert str(Path.home()) not in text


def test_config_docs_command_prints_and_writes_the_reference(
    clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.main(["config-docs"]) == 0
    assert capsys.readouterr().out == config_reference.markdown()

    target = tmp_path / "docs" / "configuration.md"
    assert cli.main(["config-docs", "--write", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == config_reference.markdown()


# --- unknown variables refused -----------------------------------------------------------------


def test_a_mistyped_variable_is_refused_with_the_closest_setting() -> None:
    errors = environment_errors({"HEIRLOOM_MAX_UPLOAD_BYTE": "1"})
    assert len(errors) == 1
    assert "HEIRLOOM_MAX_UPLOAD_BYTE " in errors[0]
    assert "did you mean HEIRLOOM_MAX_UPLOAD_BYTES?" in errors[0]


@pytest.mark.parametrize(
    ("mistyped", "meant"),
    [
        ("HEIRLOOM_QWEN__STEP", "HEIRLOOM_QWEN__STEPS"),
        ("HEIRLOOM_FAULTS__LATENCY", "HEIRLOOM_FAULTS__LATENCY_MS"),
        ("HEIRLOOM_TIER_RULES__FREE__DAILY_JOB_LIMT", "HEIRLOOM_TIER_RULES__FREE__DAILY_JOB_LIMIT"),
        ("HEIRLOOM_API_PORT__X", "HEIRLOOM_API_PORT"),
        ("HEIRLOOM_TEST_DATABSE_URL", "HEIRLOOM_TEST_DATABASE_URL"),
    ],
)
def test_a_mistyped_nested_variable_is_refused_too(mistyped: str, meant: str) -> None:
    assert [f"did you mean {meant}?" in error for error in environment_errors({mistyped: "1"})] == [
        True
    ]


def test_a_name_like_no_setting_is_refused_without_a_guess() -> None:
    [error] = environment_errors({"HEIRLOOM_ZZZ": "1"})
    assert "did you mean" not in error


@pytest.mark.parametrize(
    "name",
    [
        "HEIRLOOM_MAX_UPLOAD_BYTES",
        "heirloom_max_upload_bytes",
        "HEIRLOOM_QWEN__STEPS",
        "HEIRLOOM_QWEN",
        "HEIRLOOM_FAULTS__LATENCY_MS",
        "HEIRLOOM_PRICES__RESTORE",
        "HEIRLOOM_TIER_RULES",
        "HEIRLOOM_TIER_RULES__FREE",
        "HEIRLOOM_TIER_RULES__PAID__DAILY_JOB_LIMIT",
        "HEIRLOOM_WORKER_MAX_CONCURRENT_ACTIVITIES",
        "HEIRLOOM_TEST_DATABASE_URL",
        "HEIRLOOM_DB_PASSWORD",
        "PATH",
    ],
)
def test_settings_and_documented_exemptions_pass(name: str) -> None:
    assert environment_errors({name: "1"}) == []


def test_exemptions_are_not_settings() -> None:
    assert NOT_SETTINGS.keys() & variable_names() == set()


def test_every_name_the_check_accepts_is_read_by_settings(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    # A name the check accepts but pydantic-settings ignored would be silently ignored again.
    default = Settings().model_dump()
    ignored = []
    for name in sorted(variable_names()):
        with clean_environment.context() as env:
            env.setenv(name, "not-a-value")
            try:
                read = Settings().model_dump() != default
            except (ValidationError, SettingsError):
                read = True
        if not read:
            ignored.append(name)
    assert ignored == []


def test_the_real_command_refuses_a_mistyped_variable_before_starting(tmp_path: Path) -> None:
    heirloom = Path(sys.executable).with_name("heirloom")
    assert heirloom.exists(), "the heirloom entry point is installed beside the interpreter"
    home = tmp_path / "home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.upper().startswith("HEIRLOOM_")},
        "HEIRLOOM_HOME": str(home),
        "HEIRLOOM_MAX_UPLOAD_BYTE": "1",
    }
    result = subprocess.run(
        [str(heirloom), "api"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "HEIRLOOM_MAX_UPLOAD_BYTES" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not home.exists(), "nothing started: not even HEIRLOOM_HOME was created"


# --- names used around the project ------------------------------------------------------------


def test_env_example_names_only_settings() -> None:
    names = {
        line.split("=", 1)[0].strip()
        for line in ENV_EXAMPLE.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    assert {n for n in names if n.upper().startswith("HEIRLOOM_")} - _known() == set()


def _environment_names(node: Any) -> Iterator[str]:
    """The variable names of every `environment:` block, mapping or list, anywhere in compose."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "environment":
                items = value.keys() if isinstance(value, dict) else value
                yield from (str(item).split("=", 1)[0] for item in items)
            else:
                yield from _environment_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _environment_names(item)


def test_compose_names_only_settings() -> None:
    text = COMPOSE_FILE.read_text()
    assigned = set(_environment_names(yaml.safe_load(text)))
    substituted = {match["name"] for match in SUBSTITUTION.finditer(text)}
    assert "HEIRLOOM_DATABASE_URL" in assigned
    assert "HEIRLOOM_DB_PASSWORD" in substituted
    names = {n for n in assigned | substituted if n.upper().startswith("HEIRLOOM_")}
    assert names - _known() == set()


def _files_using_names() -> Iterator[Path]:
    for place in USING_NAMES:
        for path in sorted((ROOT / place).rglob("*")):
            # Not build output: the installed package's metadata copies README.md.
            built = any(part == "__pycache__" or part.endswith(".egg-info") for part in path.parts)
            if path.is_file() and not built:
                yield path
    yield from (ROOT / name for name in DEPLOY_FILES)


def test_every_heirloom_name_the_project_uses_is_a_setting() -> None:
    unknown: dict[str, set[str]] = {}
    for path in _files_using_names():
        if path.resolve() in MISTYPING_ON_PURPOSE:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        names = set(NAME.findall(text)) - _known()
        if names:
            unknown[str(path.relative_to(ROOT))] = names
    assert unknown == {}
