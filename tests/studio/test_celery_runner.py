"""JOBS_BACKEND=celery: the same job function runs on a real Celery worker over Redis."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from jobs import services as jobs
from jobs.models import Job
from labeling.models import Pool
from tests.people import build_world

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a Redis server: set REDIS_URL "
                                                                "(scripts/test starts one for its second run)"),
]


def test_it_runs_a_job_on_a_celery_worker(tmp_path: Path, settings: Any, cifar_folder: Path) -> None:
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    settings.JOBS_BACKEND = "celery"
    settings.POOLS_DIR = tmp_path / "pools"
    settings.EMBEDDING_CACHE_DIR = tmp_path / "cache"
    app.conf.broker_url = os.environ["REDIS_URL"]
    world = build_world(tmp_path / "images")
    pool = Pool.objects.create(project=world.fish, name="cifar", source=str(cifar_folder))
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        job = jobs.enqueue(world.fish, "embed_pool", {"pool": pool.pk}, world.ann)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
                break
            time.sleep(0.5)
    assert job.status == Job.Status.SUCCEEDED, (job.status, job.error)
    assert job.result["items"] == 64
