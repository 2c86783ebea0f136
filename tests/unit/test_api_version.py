"""The API version is declared once: CHANGELOG.md's newest entry, the OpenAPI document and
README's rule name the same date."""

from __future__ import annotations

import re
from pathlib import Path

from heirloom.api.app import create_app
from heirloom.api.version import API_VERSION
from heirloom.config import Settings

ROOT = Path(__file__).parents[2]


def test_the_changelog_opens_with_the_current_version() -> None:
    dates = re.findall(r"^## (\d{4}-\d{2}-\d{2})$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert dates, "CHANGELOG.md has no dated version"
    assert dates[0] == API_VERSION
    assert dates == sorted(dates, reverse=True), "versions newest first"


def test_the_openapi_document_and_readme_carry_the_version(tmp_path: Path) -> None:
    document = create_app(Settings(home=tmp_path)).openapi()
    assert document["info"]["version"] == API_VERSION
    assert f"Heirloom-Version: {API_VERSION}" in (ROOT / "README.md").read_text()
