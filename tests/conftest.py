from __future__ import annotations

import os
import zipfile
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
    settings.VAR_DIR = tmp_path / "var"  # thumbnails are cached by item id: keep them per test
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
def _fresh_cache() -> Any:
    """Each test starts with an empty cache: throttles keyed by ids (a batch's "work
    announced") must not carry over to the next test's objects, which reuse the ids."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # The named people log in in most tests; PBKDF2 at full strength would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


SHARED_DATA = Path(os.environ.get("AGILE_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
CLASSES = {"airplane": 24, "automobile": 8, "bird": 8, "cat": 8, "ship": 8, "truck": 8}


@pytest.fixture(scope="session")
def cifar_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 real CIFAR-10 test images as ``<class>/<file>.jpg`` (24 airplanes)."""
    folder = tmp_path_factory.mktemp("cifar-small")
    with zipfile.ZipFile(SHARED_DATA / "cifar10" / "test.zip") as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".jpg"))
        for cls, count in CLASSES.items():
            chosen = [n for n in names if n.split("/")[-2] == cls][:count]
            for name in chosen:
                target = folder / cls / Path(name).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(name))
    return folder


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> Any:
    """Close PostgreSQL's connection pools before the test databases are dropped: an idle
    pooled connection would keep the database in use and its DROP would fail."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all(initialized_only=True):
            if getattr(connection, "pool", None) is not None:
                connection.close_pool()
