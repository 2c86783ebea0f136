"""The web app: static pages and ES modules the API serves at `/` (no build step)."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
