"""A small real pool (CIFAR-10 test images) and helpers to run queued jobs in-line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobs.execution import run_job
from jobs.models import Job


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embedding-cache")


@pytest.fixture
def studio_settings(settings: Any, tmp_path: Path, cifar_folder: Path, embedding_cache: Path) -> Any:
    settings.POOL_ROOTS = [cifar_folder.parent, tmp_path]
    settings.POOLS_DIR = tmp_path / "pools"
    settings.EMBEDDING_CACHE_DIR = embedding_cache
    return settings


def run_queued_jobs() -> list[Job]:
    """Run every queued job in this thread, as the runner would (the request's transaction
    never commits in a ``db`` test, so nothing was dispatched)."""
    finished = []
    while (job := Job.objects.filter(status=Job.Status.QUEUED).order_by("id").first()) is not None:
        run_job(job.pk)
        job.refresh_from_db()
        finished.append(job)
    return finished
