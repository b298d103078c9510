"""A small real pool (CIFAR-10 test images) and helpers to run queued jobs in-line."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from modeling.jobs import run_job
from modeling.models import Job

SHARED_DATA = Path(os.environ.get("AGILE_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
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


@pytest.fixture
def studio_settings(settings: Any, tmp_path: Path, cifar_folder: Path) -> Any:
    settings.POOL_ROOTS = [cifar_folder.parent, tmp_path]
    settings.POOLS_DIR = tmp_path / "pools"
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
