"""docs/configuration.md, generated from `Settings`: every variable, its default, who sets it and
what it does, by section (`heirloom config-docs`, `make config-docs`)."""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from heirloom.config import NOT_SETTINGS, Section, Settings, nested_values, variable_name


@dataclass(frozen=True)
class Row:
    """One variable as the reference lists it, its default cells written out."""

    variable: str
    defaults: tuple[str, ...]
    audience: str
    description: str


@dataclass(frozen=True)
class Table:
    """A section's table, or a dict of models' table with one default column per key."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    level: int = 2


def tables() -> list[Table]:
    """The reference's tables in order: each section's, each followed by its dicts of models'."""
    result: list[Table] = []
    for section in typing.get_args(Section):
        rows: list[Row] = []
        below: list[Table] = []
        for name, field in Settings.model_fields.items():
            if _extra(field).get("section") != section:
                continue
            default = field.get_default(call_default_factory=True)
            if _is_dict_of_models(field.annotation):
                table = _dict_table(name, field)
                below.append(table)
                rows.append(_row(variable_name(name), field, [f"[below](#{_anchor(table)})"]))
            elif isinstance(default, BaseModel):
                rows.extend(
                    _row(
                        variable_name(name, inner_name),
                        inner,
                        [_shown(getattr(default, inner_name))],
                        holder=field,
                    )
                    for inner_name, inner in type(default).model_fields.items()
                )
            else:
                rows.append(_row(variable_name(name), field, [_shown(default)]))
        result.append(Table(title=section, columns=("Default",), rows=tuple(rows)))
        result.extend(below)
    return result


def markdown() -> str:
    """The whole of docs/configuration.md."""
    lines = [_INTRO.strip(), ""]
    for table in tables():
        lines += _render(table)
    lines += ["## Names that are not settings", "", _EXEMPT_INTRO.strip(), ""]
    lines += ["| Variable | What it is |", "|---|---|"]
    lines += [f"| `{name}` | {_cell(what)} |" for name, what in sorted(NOT_SETTINGS.items())]
    return "\n".join(lines) + "\n"


def write(path: Path) -> bool:
    """Write the reference to `path`; whether that changed the file."""
    text = markdown()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def _row(
    variable: str, field: FieldInfo, defaults: list[str], holder: FieldInfo | None = None
) -> Row:
    """A nested field's audience, when it declares none, is that of the field holding it."""
    audience = _extra(field).get("audience")
    if audience is None and holder is not None:
        audience = _extra(holder).get("audience")
    return Row(
        variable=variable,
        defaults=tuple(defaults),
        audience=str(audience or ""),
        description=" ".join((field.description or "").split()),
    )


def _dict_table(name: str, field: FieldInfo) -> Table:
    """A dict of models keyed by an enum (tier_rules): HEIRLOOM_TIER_RULES__<TIER>__<FIELD>."""
    key_type, model = typing.get_args(field.annotation)
    keys = [key for key, _ in nested_values(field.annotation)]
    default = {
        str(key.value): value for key, value in field.get_default(call_default_factory=True).items()
    }
    return Table(
        title=name.replace("_", " ").capitalize(),
        columns=tuple(keys),
        rows=tuple(
            _row(
                variable_name(name, f"<{key_type.__name__}>", inner_name),
                inner,
                [_shown(getattr(default[key], inner_name)) for key in keys],
                holder=field,
            )
            for inner_name, inner in model.model_fields.items()
        ),
        level=3,
    )


def _render(table: Table) -> list[str]:
    return [
        f"{'#' * table.level} {table.title}",
        "",
        "| Variable | " + " | ".join(table.columns) + " | Set by | What it does |",
        "|---|" + "---|" * len(table.columns) + "---|---|",
        *(
            f"| `{row.variable}` | {' | '.join(row.defaults)} | {row.audience} | "
            f"{_cell(row.description)} |"
            for row in table.rows
        ),
        "",
    ]


def _shown(value: Any) -> str:
    """A default as it is written in the environment, JSON for lists and objects."""
    if value is None:
        return "*unset*"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, Enum):
        value = value.value
    elif isinstance(value, (list, dict)):
        value = json.dumps(to_jsonable_python(value), separators=(", ", ": "))
    return _cell(f"`{value}`")


def _cell(text: str) -> str:
    """Text in a table cell, where a `|` would end the cell."""
    return text.replace("|", "\\|")


def _anchor(table: Table) -> str:
    return table.title.lower().replace(" ", "-")


def _extra(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return dict(extra) if isinstance(extra, dict) else {}


def _is_dict_of_models(annotation: Any) -> bool:
    if typing.get_origin(annotation) is not dict:
        return False
    _, value = typing.get_args(annotation)
    return isinstance(value, type) and issubclass(value, BaseModel)


_INTRO = """
# Configuration

<!-- Generated by `make config-docs` (`heirloom config-docs --write docs/configuration.md`)
from the fields of `heirloom.config.Settings`: edit their descriptions there, not this file.
tests/unit/test_configuration.py fails while it is stale. -->

Heirloom reads its settings from environment variables only; no configuration file is read.
(`heirloom worker --tiers` and `--gpu-slots` override two of them for one process.)

- **Names.** `HEIRLOOM_` and the field's name, matched case-insensitively. A field of a nested
  group is `HEIRLOOM_<GROUP>__<FIELD>` (`HEIRLOOM_QWEN__STEPS=8`); a whole group can also be
  given as JSON (`HEIRLOOM_QWEN='{"steps": 8, "lora_shift": null}'`), which is the one way to
  unset a value whose default is set.
- **Values.** Lists and objects are JSON: `HEIRLOOM_CORS_ALLOW_ORIGINS='["https://app.example"]'`.
  Tier rules merge: `HEIRLOOM_TIER_RULES='{"free": {"daily_job_limit": 5}}'` or
  `HEIRLOOM_TIER_RULES__FREE__DAILY_JOB_LIMIT=5` changes that one value and keeps the rest. Other
  objects are replaced whole: `HEIRLOOM_WORKER_MAX_CONCURRENT_ACTIVITIES` names every tier the
  worker serves.
- **Unknown names are refused.** Every `heirloom` command (and the GPU handler) checks the
  environment before it starts: a `HEIRLOOM_*` variable that is not listed here ends it with
  an error naming the closest setting, e.g. `HEIRLOOM_MAX_UPLOAD_BYTE is not a Heirloom
  setting; did you mean HEIRLOOM_MAX_UPLOAD_BYTES?`. The few names the project uses that are
  not settings are listed at the end.
- **Set by** says who is expected to change a value: the **operator** running Heirloom, a
  **developer** on their machine or a benchmark, or the **tests** and their harnesses. The
  defaults run the whole stack locally (`make dev`).
"""

_EXEMPT_INTRO = """
These `HEIRLOOM_*` names pass the start-up check although no setting reads them. Each is named
exactly: any other `HEIRLOOM_*` name, `HEIRLOOM_TEST_*` ones included, must be a setting.
"""
