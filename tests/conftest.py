from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.people import World, build_world

ENGINE_DIRS = ("aggregation", "modeling")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Engine tests never touch the database: mark them so the PostgreSQL run can skip them."""
    root = Path(__file__).parent
    for item in items:
        parts = Path(str(item.fspath)).relative_to(root).parts
        if parts and parts[0] in ENGINE_DIRS and "django_db" not in item.keywords:
            item.add_marker(pytest.mark.engine)


@pytest.fixture
def world(db: Any, tmp_path: Path, settings: Any) -> World:
    settings.POOL_ROOTS = [tmp_path]
    settings.POOLS_DIR = tmp_path / "pools"
    return build_world(tmp_path / "images")


@pytest.fixture
def api() -> Any:
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(scope="session")
def database_vendor() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return "postgresql" if url.startswith("postgres") else "sqlite"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # The named people log in in most tests; PBKDF2 at full strength would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
