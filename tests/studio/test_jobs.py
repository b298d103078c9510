"""Jobs: failure keeps what was done and can be retried; dead processes never leave a job
"running"; the in-process runner really runs jobs off the request thread."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from jobs.models import Job
from jobs.recovery import recover_orphans
from jobs.runners import wait_for_idle
from jobs.services import enqueue
from labeling.choices import PoolStatus
from labeling.models import Item, Pool
from modeling import storage
from modeling.engine.store import EmbeddingStore
from tests.people import World
from tests.studio.conftest import run_queued_jobs


class FailingEncoder:
    """The real encoder, except that it raises once ``fail_after`` images were encoded."""

    def __init__(self, inner: Any, fail_after: int) -> None:
        self.inner, self.fail_after, self.seen = inner, fail_after, 0
        self.key, self.dim, self.feature_dim = inner.key, inner.dim, inner.feature_dim

    def encode_images(self, images: Any, progress: Any = None) -> Any:
        if self.seen + len(images) > self.fail_after:
            raise RuntimeError("simulated encoder crash (out of memory)")
        self.seen += len(images)
        return self.inner.encode_images(images, progress)

    def encode_texts(self, texts: Any) -> Any:
        return self.inner.encode_texts(texts)


def test_it_fails_a_job_with_a_message_keeps_the_embedded_rows_and_finishes_on_retry(
    api: Any, world: World, studio_settings: Any, cifar_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio_settings.EMBEDDING_CACHE_DIR = studio_settings.POOLS_DIR / "fresh-cache"  # nothing cached yet
    real = storage.encoder_for("offline")
    monkeypatch.setattr(storage, "encoder_for", lambda name: FailingEncoder(real, fail_after=40))
    api.force_authenticate(world.ann)
    pool = api.post("/api/pools/", {"project": world.fish.pk, "name": "cifar", "source": str(cifar_folder)},
                    format="json").json()
    [failed] = run_queued_jobs()
    assert failed.status == Job.Status.FAILED
    assert "simulated encoder crash" in failed.error and failed.finished_at is not None
    assert Pool.objects.get(pk=pool["id"]).status == PoolStatus.FAILED
    kept = len(EmbeddingStore.open(storage.store_dir(Pool.objects.get(pk=pool["id"]))))
    assert kept == 32  # the first batch of 32 was stored before the crash
    assert world.label.__class__.objects.filter(pk=world.label.pk).exists()  # labels untouched

    monkeypatch.setattr(storage, "encoder_for", lambda name: real)
    response = api.post(f"/api/jobs/{failed.pk}/retry/")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    [retried] = run_queued_jobs()
    assert retried.pk == failed.pk and retried.status == Job.Status.SUCCEEDED and retried.attempts == 2
    assert Item.objects.filter(pool_id=pool["id"]).count() == 64
    assert Pool.objects.get(pk=pool["id"]).status == PoolStatus.READY


def test_it_retries_only_failed_jobs(api: Any, world: World) -> None:
    api.force_authenticate(world.ann)
    response = api.post(f"/api/jobs/{world.job.pk}/retry/")  # it succeeded
    assert response.status_code == 409
    api.force_authenticate(world.bob)
    assert api.post(f"/api/jobs/{world.job.pk}/retry/").status_code == 404


def test_it_marks_jobs_of_dead_processes_failed_on_restart(world: World, settings: Any) -> None:
    host = socket.gethostname()
    dead = Job.objects.create(project=world.fish, kind="train", status=Job.Status.RUNNING, worker=f"{host}:999999999")
    queued = Job.objects.create(project=world.fish, kind="train", status=Job.Status.QUEUED, worker=f"{host}:999999998")
    alive = Job.objects.create(project=world.fish, kind="train", status=Job.Status.RUNNING, worker=f"{host}:1")
    elsewhere = Job.objects.create(project=world.fish, kind="train", status=Job.Status.RUNNING,
                                   worker="another-host:999999999")
    assert recover_orphans() == 2
    for row, status in [(dead, "failed"), (queued, "failed"), (alive, "running"), (elsewhere, "running")]:
        row.refresh_from_db()
        assert row.status == status, row
    dead.refresh_from_db()
    assert "stopped before it finished" in dead.error


def test_it_leaves_queued_jobs_to_celery_on_restart(world: World, settings: Any) -> None:
    settings.JOBS_BACKEND = "celery"
    queued = Job.objects.create(project=world.fish, kind="train", status=Job.Status.QUEUED,
                                worker=f"{socket.gethostname()}:999999998")
    assert recover_orphans() == 0
    queued.refresh_from_db()
    assert queued.status == "queued"


@pytest.mark.django_db(transaction=True)
def test_it_runs_jobs_on_the_in_process_threads(tmp_path: Path, settings: Any, cifar_folder: Path) -> None:
    from tests.people import build_world

    settings.POOLS_DIR = tmp_path / "pools"
    settings.EMBEDDING_CACHE_DIR = tmp_path / "cache"
    world = build_world(tmp_path / "images")
    pool = Pool.objects.create(project=world.fish, name="cifar", source=str(cifar_folder))
    job = enqueue(world.fish, "embed_pool", {"pool": pool.pk}, world.ann)  # autocommit: dispatched now
    wait_for_idle()
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.worker.startswith(socket.gethostname()) and job.result["items"] == 64
