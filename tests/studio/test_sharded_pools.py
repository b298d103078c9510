"""Sharded pools through the API and the job runner: embedding fans out over shards, and
expansion, AL rounds, the evaluation sample and scoring run as map-reduce with the answer
of the unsharded pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jobs.models import Job, ShardRun
from labeling.models import Assignment, Item, Pool
from modeling import shard_jobs, storage
from modeling.engine.active import STRATEGIES
from modeling.engine.shards import ShardedPool
from modeling.models import ModelVersion
from tests.people import World
from tests.studio.conftest import run_queued_jobs
from tests.studio.test_expert_loop_api import rate_batch

pytestmark = pytest.mark.slow


def _pool(api: Any, world: World, folder: Path, name: str, **extra: Any) -> Pool:
    response = api.post("/api/pools/", {"project": world.fish.pk, "name": name, "source": str(folder), **extra},
                        format="json")
    assert response.status_code == 201, response.json()
    [job] = run_queued_jobs()
    assert job.status == Job.Status.SUCCEEDED, job.error
    return Pool.objects.get(pk=response.json()["id"])


def _batch_keys(job: Job) -> list[str]:
    rows = Assignment.objects.filter(batch_id=job.result["batch"]).order_by("id").values_list("item__key", flat=True)
    return list(rows)


def test_it_embeds_shards_and_picks_the_unsharded_batches(api: Any, world: World, studio_settings: Any,
                                                          cifar_folder: Path) -> None:
    api.force_authenticate(world.ann)
    whole = _pool(api, world, cifar_folder, "cifar")
    sharded = _pool(api, world, cifar_folder, "cifar-sharded", shard_rows=20)
    layout = storage.open_pool(sharded)
    assert [len(s) for s in layout.stores] == [20, 20, 20, 4]
    assert layout.keys == storage.open_pool(whole).keys
    assert all(layout.index_path(i).is_file() for i in range(4))
    assert Item.objects.filter(pool=sharded).count() == 64
    embed = Job.objects.filter(kind="embed_pool").order_by("-id").first()
    assert embed is not None and embed.result["shards"] == 4 and embed.done == embed.total == 64

    concept = api.post("/api/concepts/", {"project": world.fish.pk, "name": "airplane"}, format="json").json()
    expanded = {}
    for pool in (whole, sharded):
        api.post(f"/api/concepts/{concept['id']}/expand/", {"pool": pool.pk, "size": 30}, format="json")
        [expanded[pool.pk]] = run_queued_jobs()
    assert _batch_keys(expanded[whole.pk]) == _batch_keys(expanded[sharded.pk])
    for job in expanded.values():
        rate_batch(api, job.result["batch"])
    api.post(f"/api/concepts/{concept['id']}/train/", {"pool": whole.pk}, format="json")
    [trained] = run_queued_jobs()
    assert trained.status == Job.Status.SUCCEEDED, trained.error

    # The same model and scores on the sharded pool: its shards' score files are slices.
    model = ModelVersion.objects.get(pk=trained.result["model_version"])
    twin = ModelVersion.objects.create(concept=model.concept, pool=sharded, number=model.number + 1,
                                       round=model.round, source=model.source, config=model.config,
                                       label_count=model.label_count, file_path=model.file_path)
    storage.model_path(twin).parent.mkdir(parents=True, exist_ok=True)
    storage.model_path(twin).write_bytes(storage.model_path(model).read_bytes())
    scores = np.load(storage.scores_path(model))
    for i, (a, b) in enumerate(zip(layout.offsets[:-1], layout.offsets[1:])):
        storage.save_array(storage.shard_scores_path(storage.scores_path(twin), layout, i), scores[a:b])
    for strategy in sorted(STRATEGIES):
        picked = {}
        for pool in (whole, sharded):
            api.post(f"/api/concepts/{concept['id']}/rounds/", {"pool": pool.pk, "strategy": strategy,
                                                                "batch_size": 6, "seed": 3}, format="json")
            [picked[pool.pk]] = run_queued_jobs()
            assert picked[pool.pk].status == Job.Status.SUCCEEDED, picked[pool.pk].error
        assert picked[sharded.pk].result["shards"] == 4
        assert _batch_keys(picked[whole.pk]) == _batch_keys(picked[sharded.pk]), strategy
        # Both batches were asked; the next strategy sees the same asked rows on both pools.

    for pool in (whole, sharded):
        api.post(f"/api/concepts/{concept['id']}/evaluation-set/", {"pool": pool.pk, "k": 3}, format="json")
    evaluated = run_queued_jobs()
    assert [job.status for job in evaluated] == [Job.Status.SUCCEEDED] * 2, [job.error for job in evaluated]
    assert evaluated[1].result["shards"] == 4 and evaluated[0].result["size"] > 0
    assert _batch_keys(evaluated[0]) == _batch_keys(evaluated[1])

    refused = api.get(f"/api/concepts/{concept['id']}/metrics/?pool={sharded.pk}")
    assert refused.status_code == 409 and "stored as shards" in refused.json()["error"]

    api.post(f"/api/model-versions/{twin.pk}/score/", {"pool": sharded.pk}, format="json")
    [scored] = run_queued_jobs()
    assert scored.status == Job.Status.SUCCEEDED and scored.result["scored"] == 64 and scored.result["shards"] == 4
    best = int(np.argmax(scores))
    assert scored.result["top"][0]["item"] == Item.objects.get(pool=sharded, row=best).pk


def test_a_failed_shard_fails_the_job_and_its_retry_runs_that_shard_alone(
    api: Any, world: World, studio_settings: Any, cifar_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.force_authenticate(world.ann)
    real = shard_jobs._embed_shard
    calls: list[int] = []

    def flaky(job: Job, shard: dict[str, Any], ctx: dict[str, Any], progress: Any) -> dict[str, Any]:
        calls.append(shard["shard"])
        if shard["shard"] == 2 and calls.count(2) == 1:
            raise OSError("simulated lost mount of the shared pool storage")
        return real(job, shard, ctx, progress)

    from jobs import mapreduce

    monkeypatch.setitem(mapreduce._SHARD_FUNCTIONS, "embed_pool.shard", flaky)
    response = api.post("/api/pools/", {"project": world.fish.pk, "name": "cifar", "source": str(cifar_folder),
                                        "shard_rows": 16}, format="json")
    pool = Pool.objects.get(pk=response.json()["id"])
    [failed] = run_queued_jobs()
    assert failed.status == Job.Status.FAILED
    assert "Shard 3 of 4 (embed_pool.shard) failed" in failed.error and "simulated lost mount" in failed.error
    assert calls == [0, 1, 2]  # the map stops at the failure
    assert not ShardedPool.is_sharded(storage.store_dir(pool))  # nothing sealed: no half-written pool
    assert Item.objects.filter(pool=pool).count() == 0
    assert Pool.objects.get(pk=pool.pk).status == "failed"
    assert list(ShardRun.objects.filter(job=failed).order_by("shard").values_list("status", flat=True)) == [
        "succeeded", "succeeded", "failed"]

    assert api.post(f"/api/jobs/{failed.pk}/retry/").status_code == 202
    [retried] = run_queued_jobs()
    assert retried.status == Job.Status.SUCCEEDED, retried.error
    assert calls == [0, 1, 2, 2, 3]  # shards 1 and 2 kept their results; shard 3 ran alone, then shard 4
    assert retried.result["items"] == 64 and Item.objects.filter(pool=pool).count() == 64
    assert len(storage.open_pool(pool).stores) == 4


def test_it_rebuilds_every_shards_index(api: Any, world: World, studio_settings: Any, cifar_folder: Path) -> None:
    api.force_authenticate(world.ann)
    pool = _pool(api, world, cifar_folder, "cifar", shard_rows=40)
    layout = storage.open_pool(pool)
    for i in range(2):
        layout.index_path(i).unlink()
    assert api.post(f"/api/pools/{pool.pk}/index/", format="json").status_code == 202
    [job] = run_queued_jobs()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["vectors"] == 64 and job.result["shards"] == 2
    assert all(layout.index_path(i).is_file() for i in range(2))
