"""The job functions of the expert loop. Each runs outside any request, reports progress,
and returns a small JSON result; on an exception the runner marks the job failed and
everything already written (items, embeddings, labels, batches) stays as it was."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction

from jobs.events import publish
from jobs.mapreduce import MapStep
from jobs.models import Job
from jobs.registry import Reporter, job
from labeling import services as labeling_services
from labeling.choices import BatchKind, PoolStatus
from labeling.models import Concept, Item, Pool
from modeling import evaluation, shard_jobs, storage, studio
from modeling.engine.embedding import embed_source
from modeling.engine.errors import NotEnoughLabelsError
from modeling.engine.index import build_index
from modeling.engine.sharded_expansion import phrase_queries
from modeling.engine.store import EmbeddingStore
from modeling.engine.trainer import initial_config, later_config, plan_scoring, train
from modeling.models import ModelVersion

SKIPPED_SHOWN = 20
# Images per encoder call: each batch is appended durably, so a crash loses at most one.
EMBED_BATCH = 32


@job("embed_pool")
def embed_pool(job_row: Job, progress: Reporter) -> dict[str, Any] | MapStep:
    """Embed a pool's images into its store, register its items, build its index; a pool
    of more than ``shard_rows`` images (job parameter, default settings.POOL_SHARD_ROWS)
    is embedded as shards, one map step each."""
    pool = Pool.objects.get(pk=job_row.params["pool"])
    Pool.objects.filter(pk=pool.pk).update(status=PoolStatus.EMBEDDING)
    # A re-embedding keeps the pool's layout (one store, or its shard size).
    if storage.is_sharded(pool):
        shard_rows = storage.open_pool(pool).shard_rows
    elif EmbeddingStore.exists(storage.store_dir(pool)):
        shard_rows = 0
    else:
        shard_rows = int(job_row.params.get("shard_rows", settings.POOL_SHARD_ROWS))
    fan_out = shard_jobs.embed_step(pool, shard_rows)
    if fan_out is not None:
        return fan_out  # one store per shard of ``shard_rows`` images, embedded where the workers are
    try:
        result = embed_source(Path(pool.source), storage.encoder_for(pool.encoder), storage.store_dir(pool),
                              progress=lambda done, total: progress(done, total, "Embedding images"),
                              cache_dir=settings.EMBEDDING_CACHE_DIR, batch_size=EMBED_BATCH)
        store = result.store
        if settings.EMBEDDING_INT8_MIN_ROWS and len(store) >= settings.EMBEDDING_INT8_MIN_ROWS:
            store.add_int8("features", progress=lambda done, total: progress(done, total, "Writing the int8 copy"))
        _register_items(pool, list(store.keys))
        _build_index(pool, store, progress)
    except BaseException:
        Pool.objects.filter(pk=pool.pk).update(status=PoolStatus.FAILED)
        raise
    Pool.objects.filter(pk=pool.pk).update(status=PoolStatus.READY, embedding_path=str(storage.store_dir(pool)))
    return {"pool": pool.pk, "items": len(store), "skipped": len(result.skipped),
            "skipped_keys": [f"{key}: {reason}" for key, reason in result.skipped[:SKIPPED_SHOWN]]}


@job("build_index")
def build_pool_index(job_row: Job, progress: Reporter) -> dict[str, Any] | MapStep:
    """(Re)build a ready pool's index from its store's shared-space vectors; the old index
    serves searches until the new one replaces it."""
    pool = Pool.objects.get(pk=job_row.params["pool"])
    if storage.is_sharded(pool):
        return shard_jobs.index_step(pool)  # every shard rebuilds its own index
    store = storage.open_store(pool)
    return {"pool": pool.pk, **_build_index(pool, store, progress)}


def _build_index(pool: Pool, store: EmbeddingStore, progress: Reporter) -> dict[str, Any]:
    """Build the index over ``store.vectors`` with progress, save it beside the store
    (written aside, then moved into place); its size, width, kind and seconds."""
    started = time.perf_counter()
    progress(0, len(store), "Building the index: training")
    index = build_index(store.vectors, progress=lambda done, total: progress(done, total, "Building the index"))
    storage.save_index(pool, index)
    progress(len(store), len(store), "Index built")
    return {"vectors": index.size, "dim": index.dim, "index": repr(index),
            "index_seconds": round(time.perf_counter() - started, 3)}


def _register_items(pool: Pool, keys: list[str]) -> None:
    """One Item per store row (new keys created, existing ones get their row)."""
    existing = dict(Item.objects.filter(pool=pool).values_list("key", "id"))
    with transaction.atomic():
        Item.objects.bulk_create([Item(pool=pool, key=k, row=r) for r, k in enumerate(keys) if k not in existing],
                                 batch_size=2000)
        moved = [Item(pk=existing[k], row=r) for r, k in enumerate(keys) if k in existing]
        Item.objects.bulk_update(moved, ["row"], batch_size=2000)


@job("expand")
def expand_concept(job_row: Job, progress: Reporter) -> MapStep:
    """Nearest items of every phrase, a seeded random ``size`` of them to rate (round 0):
    k-NN over every shard's index, merged."""
    concept, pool = _concept_and_pool(job_row)
    encoder = storage.encoder_for(pool.encoder)
    progress(0, 2, "Encoding phrases")
    positives = encoder.encode_texts(concept.all_positive_phrases)
    negatives = encoder.encode_texts(concept.negative_phrases) if concept.negative_phrases else positives[:0]
    queries = phrase_queries(positives, negatives, storage.open_pool(pool).stores[0].dim)
    progress(1, 2, "Searching the pool")
    return shard_jobs.expand_step(pool, concept.pk, queries, job_row.params.get("per_phrase", 100),
                                  job_row.params.get("size", 100), job_row.params.get("seed", 0),
                                  studio.asked_rows(concept, pool))


@job("train")
def train_model(job_row: Job, progress: Reporter) -> dict[str, Any]:
    """Train the next model version on the expert's labels and score the whole pool."""
    concept, pool = _concept_and_pool(job_row)
    version, timings = _train_and_score(concept, pool, job_row, progress)
    return {"model_version": version.pk, "number": version.number, "labels": version.label_count, **timings}


@job("al_round")
def active_learning_round(job_row: Job, progress: Reporter) -> MapStep:
    """Optionally retrain, then choose the next batch with an AL strategy from the model's
    scores: every shard returns its best candidates, reduced to the batch."""
    concept, pool = _concept_and_pool(job_row)
    timings: dict[str, Any] = {}
    version = studio.latest_model(concept, pool)
    if job_row.params.get("train") or version is None:
        version, timings = _train_and_score(concept, pool, job_row, progress)
    strategy, size = job_row.params.get("strategy", "margin"), int(job_row.params.get("batch_size", 100))
    rows, labels, _ = studio.expert_labels(concept, pool)
    asked = studio.asked_rows(concept, pool)
    return shard_jobs.al_round_step(pool, version, strategy, size, int(job_row.params.get("seed", 0)), asked,
                                    _labels_for(asked, rows, labels), timings)


@job("evaluation_set")
def evaluation_set(job_row: Job, progress: Reporter) -> dict[str, Any] | MapStep:
    """The stratified evaluation sample over every model (and zero-shot), as a batch to rate;
    on a sharded pool, per-shard strata counts and keys, merged."""
    concept, pool = _concept_and_pool(job_row)
    k = int(job_row.params.get("k", evaluation.DEFAULT_K))
    if storage.is_sharded(pool):
        return shard_jobs.evaluation_step(concept, pool, k)
    progress(0, 1, "Scoring models and sampling strata")
    sample, _, rows = evaluation.evaluation_sample(concept, pool, k=k)
    return evaluation_batch(concept, pool, rows[sample.indices], sample)


def evaluation_batch(concept: Concept, pool: Pool, sample_rows: np.ndarray, sample: Any) -> dict[str, Any]:
    """The evaluation batch of the sampled pool rows the expert was not asked yet
    (items the crowd evaluated may go to the expert too)."""
    already = {int(r) for r in studio.expert_rows(concept, pool)}
    new_rows = np.array([r for r in sample_rows if int(r) not in already], dtype=np.int64)
    batch = labeling_services.create_batch(
        concept=concept, kind=BatchKind.EVALUATION, items=studio.items_for_rows(pool, new_rows),
        assignee=concept.owner, round=studio.next_round(concept) - 1 if studio.next_round(concept) else 0,
        selection="stratified", params={"pool": pool.pk, "k": sample.k, "models": sorted(sample.models)})
    publish(concept.project_id, "batch.created", studio.batch_event(batch, len(new_rows)))
    return {"batch": batch.pk, "size": len(new_rows), "sample": int(len(sample.indices))}


@job("score_pool")
def score_other_pool(job_row: Job, progress: Reporter) -> MapStep:
    """Score a pool with a stored model version, shard by shard; keep the scores and
    report the top items."""
    version = ModelVersion.objects.select_related("concept").get(pk=job_row.params["model_version"])
    pool = Pool.objects.get(pk=job_row.params["pool"])
    return shard_jobs.score_pool_step(pool, version)


def _concept_and_pool(job_row: Job) -> tuple[Concept, Pool]:
    return (Concept.objects.get(pk=job_row.params["concept"]), Pool.objects.get(pk=job_row.params["pool"]))


def _labels_for(asked: np.ndarray, rows: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Labels aligned with ``asked``; asked-but-unrated rows count as negatives for balance."""
    lookup = dict(zip(rows.tolist(), labels.tolist()))
    return np.array([lookup.get(int(r), 0) for r in asked], dtype=np.int64)


def _rating_batch(concept: Concept, pool: Pool, rows: np.ndarray, **kw: Any) -> Any:
    batch = labeling_services.create_batch(concept=concept, kind=BatchKind.EXPERT_RATING,
                                           items=studio.items_for_rows(pool, rows), assignee=concept.owner, **kw)
    publish(concept.project_id, "batch.created", studio.batch_event(batch, len(rows)))
    return batch


def _train_and_score(concept: Concept, pool: Pool, job_row: Job, progress: Reporter) -> tuple[ModelVersion, dict[str, Any]]:
    source = job_row.params.get("label_source", "expert")
    rows, labels, weights, card = studio.training_labels(concept, pool, source)
    if not len(rows):
        raise NotEnoughLabelsError(f"No {source} labels of this concept on this pool yet.")
    if not (labels * weights).sum():
        raise NotEnoughLabelsError(f"No confident positive {source} label of this concept on this pool yet.")
    number = studio.next_model_number(concept)
    config = initial_config() if number == 1 else later_config()
    if storage.is_sharded(pool):
        return shard_jobs.train_on_shards(concept, pool, job_row, progress, (rows, labels, weights, card),
                                          number, config, source)
    store = storage.open_store(pool)
    started = time.perf_counter()
    model = train(store.features[rows], labels, store.features, config,
                  progress=lambda d, t: progress(d, t, f"Training model v{number}"), exclude=rows,
                  previous_scores=_previous_scores(concept, pool, len(store)),
                  weights=None if source == "expert" else weights)
    trained = time.perf_counter()
    plan = plan_scoring(model, store.scoring_features())  # the fastest path here, said in the result
    scores = plan.score(store.scoring_features(), progress=lambda d, t: progress(d, t, "Scoring the pool"))
    version = save_version(concept, pool, model, number, config, len(labels), card, source)
    storage.save_array(storage.scores_path(version), scores)
    timings = {"train_seconds": round(trained - started, 3), "score_seconds": round(time.perf_counter() - trained, 3),
               "scoring": plan.describe()}
    return version, timings


def save_version(concept: Concept, pool: Pool, model: Any, number: int, config: Any, label_count: int,
                 card: Any, source: str) -> ModelVersion:
    """Save a trained model's file and its ModelVersion row, and tell the studio."""
    version = ModelVersion(concept=concept, pool=pool, number=number, round=max(studio.next_round(concept) - 1, 0),
                           source=source, config=_jsonable(dataclasses.asdict(config)), label_count=label_count,
                           training_labels=card)
    storage.model_path(version).parent.mkdir(parents=True, exist_ok=True)
    model.save(storage.model_path(version))
    version.file_path = str(storage.model_path(version))
    version.save()
    publish(concept.project_id, "metrics.updated", {"concept": concept.pk, "model_version": version.pk})
    return version


def _previous_scores(concept: Concept, pool: Pool, rows: int) -> np.ndarray:
    """The latest model's pool scores (zero-shot before the first model): the trainer keeps
    the rows they call positive out of its random negatives."""
    latest = studio.latest_model(concept, pool)
    if latest is not None and storage.scores_path(latest).is_file():
        scores = np.load(storage.scores_path(latest), mmap_mode="r")
        if scores.shape == (rows,):
            return np.asarray(scores)
    return evaluation.zero_shot_pool_scores(concept, pool)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
