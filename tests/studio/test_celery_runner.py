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


def test_it_maps_shards_over_a_celery_chord_and_retries_a_failed_shard_alone(
    tmp_path: Path, settings: Any, cifar_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celery.contrib.testing.worker import start_worker

    from config.celery import app
    from jobs import mapreduce
    from jobs.models import ShardRun
    from modeling import shard_jobs, storage

    settings.JOBS_BACKEND = "celery"
    settings.POOLS_DIR = tmp_path / "pools"
    settings.EMBEDDING_CACHE_DIR = tmp_path / "cache"
    app.conf.broker_url = app.conf.result_backend = os.environ["REDIS_URL"]
    real, calls = shard_jobs._embed_shard, []

    def flaky(job: Job, shard: dict[str, Any], ctx: dict[str, Any], progress: Any) -> dict[str, Any]:
        calls.append(shard["shard"])
        if shard["shard"] == 1 and calls.count(1) == 1:
            raise OSError("simulated lost mount of the shared pool storage")
        return real(job, shard, ctx, progress)

    monkeypatch.setitem(mapreduce._SHARD_FUNCTIONS, "embed_pool.shard", flaky)
    world = build_world(tmp_path / "images")
    pool = Pool.objects.create(project=world.fish, name="cifar", source=str(cifar_folder))
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        job = jobs.enqueue(world.fish, "embed_pool", {"pool": pool.pk, "shard_rows": 32}, world.ann)
        _wait(job)
        assert job.status == Job.Status.FAILED, (job.status, job.error)
        assert "Shard 2 of 2 (embed_pool.shard) failed" in job.error and "lost mount" in job.error
        assert ShardRun.objects.get(job=job, shard=0).status == ShardRun.Status.SUCCEEDED
        assert not storage.is_sharded(pool)  # nothing sealed, no items: nothing half-written
        assert job.worker == ""  # in a chord the job belongs to no one process (recovery leaves it be)
        jobs.retry(job)
        _wait(job)
    assert job.status == Job.Status.SUCCEEDED, (job.status, job.error)
    assert calls == [0, 1, 1]  # the retry ran the failed shard alone, then the reduce
    assert job.result["items"] == 64 and job.result["shards"] == 2 and job.attempts == 2
    assert [len(s) for s in storage.open_pool(pool).stores] == [32, 32]


def _wait(job: Job, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
            return
        time.sleep(0.3)
