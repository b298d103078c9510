from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.crowd.world import CrowdWorld, build_crowd_world
from tests.studio.conftest import embedding_cache, studio_settings  # noqa: F401  (real-pool fixtures)


@pytest.fixture
def crowd(db: Any, tmp_path: Path, settings: Any) -> CrowdWorld:
    settings.POOL_ROOTS = [tmp_path]
    settings.POOLS_DIR = tmp_path / "pools"
    settings.VAR_DIR = tmp_path / "var"
    return build_crowd_world(tmp_path / "images")
