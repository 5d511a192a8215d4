"""Fixtures of the maintenance tests: a feed sources file the worker and the API read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capstan.settings import Settings
from models.maintenance.settings import PatchSettings


@pytest.fixture(autouse=True)
def sources_path(settings: Settings, tmp_path: Path) -> Path:
    """An empty sources file, set in the test's settings before any worker or API reads them."""
    path = tmp_path / "feed-sources.json"
    path.write_text(json.dumps({"sources": []}))
    settings.patch = PatchSettings(feed_sources_path=path)
    return path
