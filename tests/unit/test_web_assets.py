"""The web app's files: what the pages load is shipped, and the slider cuts the comparison
image where services/imaging.py joins its halves."""

from __future__ import annotations

import re

from heirloom.services import imaging
from heirloom.web import STATIC_DIR


def test_every_module_and_file_the_pages_load_is_shipped() -> None:
    missing = []
    for page in STATIC_DIR.glob("*.html"):
        for name in re.findall(r'(?:src|href)="/static/([^"]+)"', page.read_text()):
            if not (STATIC_DIR / name).is_file():
                missing.append(f"{page.name} -> {name}")
    for module in STATIC_DIR.glob("*.js"):
        for name in re.findall(r'from "\./([^"]+)"', module.read_text()):
            if not (STATIC_DIR / name).is_file():
                missing.append(f"{module.name} -> {name}")
    assert missing == []


def test_the_share_slider_splits_the_comparison_at_its_divider() -> None:
    slider = (STATIC_DIR / "slider.js").read_text()
    [divider] = re.findall(r"const COMPARISON_DIVIDER_PX = (\d+);", slider)
    assert int(divider) == imaging._DIVIDER
