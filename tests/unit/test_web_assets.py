"""The web app's files: what the pages load is shipped, the slider cuts the comparison image
where services/imaging/pipeline.py joins its halves, and the pages' Content-Security-Policy."""

from __future__ import annotations

import re
from pathlib import Path

from heirloom.api.routes.web import content_security_policy
from heirloom.config import Settings
from heirloom.services.imaging import pipeline as imaging
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


def test_the_pages_may_load_images_and_files_from_the_s3_endpoint_only_when_used(
    tmp_path: Path,
) -> None:
    local = content_security_policy(Settings(home=tmp_path))
    assert "img-src 'self' blob: data:;" in local
    assert "connect-src 'self';" in local
    minio = Settings(
        home=tmp_path, storage_backend="s3", s3_endpoint_url="http://minio:9000/heirloom"
    )
    policy = content_security_policy(minio)
    assert "img-src 'self' blob: data: http://minio:9000;" in policy
    assert "connect-src 'self' http://minio:9000;" in policy
    aws = content_security_policy(Settings(home=tmp_path, storage_backend="s3"))
    assert "connect-src 'self' https://*.amazonaws.com;" in aws
