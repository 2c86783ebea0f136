"""The error-code table: generated from domain/errors.py, checked in, and in the OpenAPI text."""

from __future__ import annotations

from pathlib import Path

import pytest

from heirloom import cli
from heirloom.api.app import create_app
from heirloom.config import Settings
from heirloom.domain import error_reference
from heirloom.domain.errors import ERRORS_BY_CODE

REFERENCE = Path(__file__).parents[2] / "docs" / "errors.md"


def test_the_checked_in_error_table_is_up_to_date() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == error_reference.markdown(), (
        "docs/errors.md is stale: run make error-docs"
    )


def test_every_code_has_one_row_with_its_status() -> None:
    rows = [line for line in error_reference.table().splitlines() if line.startswith("| ")][1:]
    codes = [row.split("|")[2].strip().strip("`") for row in rows]
    assert sorted(codes) == sorted(ERRORS_BY_CODE)
    for row in rows:
        status, code = (cell.strip().strip("`") for cell in row.split("|")[1:3])
        assert int(status) == ERRORS_BY_CODE[code].http_status


def test_the_openapi_document_carries_the_table(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'h.db'}"))
    description = app.openapi()["info"]["description"]
    assert error_reference.table() in description


def test_error_docs_command_writes_the_reference(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.main(["error-docs"]) == 0
    assert capsys.readouterr().out == error_reference.markdown()
    target = tmp_path / "errors.md"
    assert cli.main(["error-docs", "--write", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == error_reference.markdown()
