"""The pool-wide steps of the expert loop as map-reduce over a pool's shards.

Each ``*_step`` builds the :class:`~jobs.mapreduce.MapStep` a job function returns; the
shard functions read one shard (on any worker sharing the pool storage) and return small
JSON; the reducers combine them and write what the job produces (a batch, a pool made
ready), so nothing exists before every shard succeeded. A one-shard pool (today's
layout) runs the same path with one shard.

- ``embed_pool``: every shard embeds its slice of the source's images into its own store,
  with its own int8 copy and index; the reduce seals the layout and registers the items.
- ``al_round``: every shard scores its rows with the model (or reads the scores saved
  when the model was trained) and returns its best candidates for the strategy; the
  reduce picks the batch (:mod:`modeling.engine.sharded_active`).
- ``expand``: k-NN per shard index, merged per phrase (:mod:`~modeling.engine.sharded_expansion`).
- ``score_pool``: every shard scores its rows with a stored model and keeps its top items.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from jobs.mapreduce import MapStep, reducer, shard_function
from jobs.models import Job
from jobs.registry import Reporter
from labeling.choices import PoolStatus
from labeling.models import Item, Pool
from modeling import storage, studio
from modeling.engine.active import top_k
from modeling.engine.embedding import embed_source
from modeling.engine.images import list_images
from modeling.engine.index import VectorIndex, build_index
from modeling.engine.sharded_active import ShardCandidates, reduce_batch, shard_candidates
from modeling.engine.sharded_expansion import finish_expansion, merge_neighbours, shard_neighbours
from modeling.engine.shards import ShardedPool, merge_top, plan_shards, shard_index_file, shard_name
from modeling.engine.trainer import TrainedModel, plan_scoring
from modeling.models import ModelVersion

TOP_SHOWN = 20


def _shards(layout: ShardedPool) -> list[dict[str, Any]]:
    offsets = layout.offsets.tolist()
    return [{"shard": i, "offset": offsets[i], "rows": offsets[i + 1] - offsets[i]} for i in range(len(layout.stores))]


# --------------------------------------------------------------------------- embedding


def embed_step(pool: Pool, shard_rows: int) -> MapStep | None:
    """The fan-out of a new pool's embedding over shards of ``shard_rows`` images, or
    None when the pool fits one shard (then it is embedded the old way)."""
    keys = [ref.key for ref in list_images(Path(pool.source))]
    ranges = plan_shards(len(keys), shard_rows)
    if len(ranges) <= 1:
        return None
    int8 = bool(settings.EMBEDDING_INT8_MIN_ROWS and len(keys) >= settings.EMBEDDING_INT8_MIN_ROWS)
    return MapStep("embed_pool.shard", [{"shard": i, "start": a, "stop": b} for i, (a, b) in enumerate(ranges)],
                   "embed_pool.seal", {"pool": pool.pk, "shard_rows": shard_rows, "int8": int8},
                   on_failure="embed_pool.failed")


@reducer("embed_pool.failed")
def _embedding_failed(job: Job, results: list[dict[str, Any]], ctx: dict[str, Any], progress: Reporter) -> dict[str, Any]:
    Pool.objects.filter(pk=ctx["pool"]).update(status=PoolStatus.FAILED)
    return {}


@shard_function("embed_pool.shard")
def _embed_shard(job: Job, shard: dict[str, Any], ctx: dict[str, Any], progress: Reporter) -> dict[str, Any]:
    pool = Pool.objects.get(pk=ctx["pool"])
    keys = [ref.key for ref in list_images(Path(pool.source))][shard["start"] : shard["stop"]]
    folder = storage.store_dir(pool) / shard_name(shard["shard"])
    result = embed_source(Path(pool.source), storage.encoder_for(pool.encoder), folder, keys=keys,
                          progress=lambda done, total: progress(done, total, "Embedding images"),
                          cache_dir=settings.EMBEDDING_CACHE_DIR, batch_size=32)
    store = result.store
    if ctx["int8"]:
        store.add_int8("features")
    index = build_index(store.vectors)
    storage.save_index(pool, index, shard_index_file(storage.store_dir(pool), shard["shard"]))
    return {"rows": len(store), "skipped": [f"{key}: {reason}" for key, reason in result.skipped[:20]],
            "skipped_count": len(result.skipped)}


@reducer("embed_pool.seal")
def _seal(job: Job, results: list[dict[str, Any]], ctx: dict[str, Any], progress: Reporter) -> dict[str, Any]:
    from modeling.job_functions import _register_items

    pool = Pool.objects.get(pk=ctx["pool"])
    layout = ShardedPool.seal(storage.store_dir(pool), ctx["shard_rows"], len(results))
    _register_items(pool, layout.keys)
    Pool.objects.filter(pk=pool.pk).update(status=PoolStatus.READY, embedding_path=str(storage.store_dir(pool)))
    return {"pool": pool.pk, "items": len(layout), "shards": len(results), "shard_rows": ctx["shard_rows"],
            "skipped": sum(r["skipped_count"] for r in results),
            "skipped_keys": [k for r in results for k in r["skipped"]][:20]}


def index_step(pool: Pool) -> MapStep:
    """Rebuild every shard's index (each written aside, then moved into place)."""
    return MapStep("build_index.shard", _shards(storage.open_pool(pool)), "build_index.done", {"pool": pool.pk})


@shard_function("build_index.shard")
def _index_shard(job: Job, shard: dict[str, Any], ctx: dict[str, Any], progress: Reporter) -> dict[str, Any]:
    pool = Pool.objects.get(pk=ctx["pool"])
    layout = storage.open_pool(pool)
    started = time.perf_counter()
    index = build_index(layout.stores[shard["shard"]].vectors,
                        progress=lambda done, total: progress(done, total, "Building the index"))
    storage.save_index(pool, index, layout.index_path(shard["shard"]))
    return {"vectors": index.size, "dim": index.dim, "index": repr(index), "seconds": time.perf_counter() - started}


@reducer("build_index.done")
def _indexes_built(job: Job, results: list[dict[str, Any]], ctx: dict[str, Any], progress: Reporter) -> dict[str, Any]:
    return {"pool": ctx["pool"], "vectors": sum(r["vectors"] for r in results), "dim": results[0]["dim"],
            "shards": len(results), "index": results[0]["index"],
            "index_seconds": round(max(r["seconds"] for r in results), 3)}


# --------------------------------------------------------------------------- training

#: Random negatives of a model trained on a sharded pool come from this many pool rows,
#: drawn uniformly across the shards (a uniform sample of the pool is as good a source of
#: random negatives as the pool itself, and does not need one array over every shard).
TRAIN_SAMPLE_ROWS = 131_072


def train_on_shards(concept: Any, pool: Pool, job_row: Job, progress: Reporter, labelled: tuple[Any, ...],
                    number: int, config: Any, source: str) -> tuple[ModelVersion, dict[str, Any]]:
    """Train the next model on a sharded pool. The labelled rows are gathered from their
    shards; the pool is scored later, shard by shard, by the AL round's map step."""
    from modeling.engine.trainer import train
    from modeling.job_functions import save_version

    rows, labels, weights, card = labelled
    layout = storage.open_pool(pool)
    started = time.perf_counter()
    gen = np.random.default_rng(config.seed)
    sample = np.sort(gen.choice(len(layout), size=min(len(layout), TRAIN_SAMPLE_ROWS), replace=False))
    pool_features = layout.gather("features", sample)
    model = train(layout.gather("features", rows), labels, pool_features, config,
                  progress=lambda d, t: progress(d, t, f"Training model v{number}"),
                  exclude=np.flatnonzero(np.isin(sample, rows)), weights=None if source == "expert" else weights)
    version = save_version(concept, pool, model, number, config, len(labels), card, source)
    return version, {"train_seconds": round(time.perf_counter() - started, 3), "random_negatives_from": len(sample)}


# --------------------------------------------------------------------------- AL round


def al_round_step(pool: Pool, version: ModelVersion, strategy: str, size: int, seed: int,
                  asked: np.ndarray, asked_labels: np.ndarray, timings: dict[str, Any]) -> MapStep:
    layout = storage.open_pool(pool)
    return MapStep("al_round.candidates", _shards(layout), "al_round.batch",
                   {"pool": pool.pk, "version": version.pk, "strategy": strategy, "size": size, "seed": seed,
                    "asked": [int(r) for r in asked], "asked_labels": [int(v) for v in asked_labels],
                    "timings": timings, "started": time.time()})


def shard_scores(version: ModelVersion, pool: Pool, layout: ShardedPool, shard: int,
                 progress: Reporter | None = None) -> np.ndarray:
    """The model's probabilities on one shard's rows: the saved scores when they are
    there (written when the model was trained, or by an earlier round), else scored
    now from the shard's int8 copy or features and saved (written aside, then moved)."""
    path = storage.shard_scores_path(storage.scores_path(version), layout, shard)
    rows = len(layout.stores[shard])
    if path.is_file():
        scores = np.load(path, mmap_mode="r")
        if scores.shape == (rows,):
            return np.asarray(scores)
    model = TrainedModel.load(storage.model_path(version))
    features = layout.stores[shard].scoring_features()
    report = None if progress is None else (lambda d, t: progress(d, t, "Scoring the pool"))
    scores = plan_scoring(model, features).score(features, progress=report)
    storage.save_array(path, scores)
    return scores


@shard_function("al_round.candidates")
def _round_candidates(job: Job, shard: dict[str, Any], ctx: dict[str, Any], progress: Reporter) -> dict[str, Any]:
    pool, version = Pool.objects.get(pk=ctx["pool"]), ModelVersion.objects.get(pk=ctx["version"])
    probs = shard_scores(version, pool, storage.open_pool(pool), shard["shard"], progress)
    state = np.random.default_rng(ctx["seed"]).bit_generator.state
    part = shard_candidates(ctx["strategy"], ctx["size"], probs, shard["offset"], np.asarray(ctx["asked"], np.int64),
                            state)
    return part.to_json()


@reducer("al_round.batch")
def _round_batch(job: Job, results: list[dict[str, Any]], ctx: dict[str, Any], progress: Reporter) -> dict[str, Any]:
    from modeling.job_functions import _rating_batch

    pool, version = Pool.objects.get(pk=ctx["pool"]), ModelVersion.objects.select_related("concept").get(pk=ctx["version"])
    layout = storage.open_pool(pool)
    model_file = storage.model_path(version)

    def represent(rows: np.ndarray) -> np.ndarray:  # badge, once, on the candidates only
        return TrainedModel.load(model_file).hidden(layout.gather("features", rows))

    chosen = reduce_batch(ctx["strategy"], ctx["size"], [ShardCandidates.from_json(r) for r in results],
                          np.asarray(ctx["asked_labels"], np.int64), np.random.default_rng(ctx["seed"]),
                          embeddings_of=lambda rows: layout.gather("vectors", rows), represent=represent)
    concept = version.concept
    batch = _rating_batch(concept, pool, chosen, round=studio.next_round(concept), selection=ctx["strategy"],
                          params={"pool": pool.pk, "model_version": version.pk, "batch_size": ctx["size"],
                                  "shards": len(results)})
    select = round(time.time() - ctx["started"], 3)
    return {"batch": batch.pk, "size": len(chosen), "model_version": version.pk, "shards": len(results),
            **ctx["timings"], "select_seconds": select}


# --------------------------------------------------------------------------- expansion


def expand_step(pool: Pool, concept_id: int, queries: np.ndarray, per_phrase: int, size: int, seed: int,
                exclude: np.ndarray) -> MapStep:
    layout = storage.open_pool(pool)
    return MapStep("expand.neighbours", _shards(layout), "expand.batch",
                   {"pool": pool.pk, "concept": concept_id, "queries": np.asarray(queries, np.float32).tolist(),
                    "per_phrase": per_phrase, "size": size, "seed": seed, "exclude": [int(r) for r in exclude]})


@shard_function("expand.neighbours")
def _shard_neighbours(job: Job, shard: dict[str, Any], ctx: dict[str, Any], progress: Reporter) -> dict[str, Any]:
    pool = Pool.objects.get(pk=ctx["pool"])
    layout = storage.open_pool(pool)
    store = layout.stores[shard["shard"]]
    index = VectorIndex.load(storage.shard_index_path(pool, layout, shard["shard"]), vectors=store.vectors)
    scores, ids = shard_neighbours(index, np.asarray(ctx["queries"], np.float32), ctx["per_phrase"], shard["offset"])
    finite = np.where(np.isfinite(scores), scores, -np.inf if index.metric == "ip" else np.inf)
    return {"scores": [[float(v) if np.isfinite(v) else None for v in row] for row in finite],
            "ids": ids.tolist(), "metric": index.metric}


@reducer("expand.batch")
def _expand_batch(job: Job, results: list[dict[str, Any]], ctx: dict[str, Any], progress: Reporter) -> dict[str, Any]:
    from labeling.models import Concept
    from modeling.job_functions import _rating_batch

    metric = results[0]["metric"]
    missing = -np.inf if metric == "ip" else np.inf
    parts = [(np.array([[missing if v is None else v for v in row] for row in r["scores"]], np.float32),
              np.asarray(r["ids"], np.int64)) for r in results]
    _, ids = merge_neighbours(parts, ctx["per_phrase"], metric)
    found = finish_expansion(ids, ctx["size"], np.random.default_rng(ctx["seed"]), np.asarray(ctx["exclude"], np.int64))
    concept, pool = Concept.objects.get(pk=ctx["concept"]), Pool.objects.get(pk=ctx["pool"])
    batch = _rating_batch(concept, pool, found.batch, round=studio.next_round(concept), selection="expansion",
                          params={"pool": pool.pk, "candidates": int(len(found.candidates))})
    return {"batch": batch.pk, "size": len(found.batch), "candidates": int(len(found.candidates)),
            "shards": len(results)}


# --------------------------------------------------------------------------- evaluation sample


def evaluation_step(concept: Any, pool: Pool, k: int) -> MapStep:
    """Per shard: every model's and zero-shot's strata over the shard's candidate rows
    (the unsharded sample's rule: ``evaluation.excluded_rows``), and their lowest hashes."""
    from modeling.engine.zero_shot import concept_vector
    from modeling.evaluation import excluded_rows

    encoder = storage.encoder_for(pool.encoder)
    positives = encoder.encode_texts(concept.all_positive_phrases)
    negatives = encoder.encode_texts(concept.negative_phrases) if concept.negative_phrases else None
    versions = {f"v{v.number}": v.pk for v in ModelVersion.objects.filter(concept=concept, pool=pool).order_by("number")}
    return MapStep("evaluation.strata", _shards(storage.open_pool(pool)), "evaluation.batch",
                   {"pool": pool.pk, "concept": concept.pk, "k": k, "training": excluded_rows(concept, pool).tolist(),
                    "versions": versions, "phrase": concept_vector(positives, negatives).tolist()})


@shard_function("evaluation.strata")
def _shard_strata(job: Job, shard: dict[str, Any], ctx: dict[str, Any], progress: Reporter) -> dict[str, Any]:
    from modeling.engine.sharded_sampler import shard_strata
    from modeling.engine.zero_shot import calibration_for, zero_shot_scores
    from modeling.evaluation import ZERO_SHOT

    pool = Pool.objects.get(pk=ctx["pool"])
    layout = storage.open_pool(pool)
    i, offset = shard["shard"], shard["offset"]
    store = layout.stores[i]
    local = np.setdiff1d(np.arange(len(store)), np.asarray(ctx["training"], np.int64) - offset)
    scores = {ZERO_SHOT: zero_shot_scores(store.vectors, np.asarray(ctx["phrase"]),
                                          calibration_for(pool.encoder))[local]}
    for name, version_id in ctx["versions"].items():
        scores[name] = shard_scores(ModelVersion.objects.get(pk=version_id), pool, layout, i)[local]
    keys = store.keys
    return shard_strata([keys[int(r)] for r in local], local + offset, scores, ctx["k"]).to_json()


@reducer("evaluation.batch")
def _evaluation_batch(job: Job, results: list[dict[str, Any]], ctx: dict[str, Any], progress: Reporter) -> dict[str, Any]:
    from labeling.models import Concept
    from modeling.engine.sharded_sampler import ShardStrata, merge_strata
    from modeling.job_functions import evaluation_batch

    sample = merge_strata([ShardStrata.from_json(r) for r in results], ctx["k"])
    concept, pool = Concept.objects.get(pk=ctx["concept"]), Pool.objects.get(pk=ctx["pool"])
    return {**evaluation_batch(concept, pool, sample.indices, sample), "shards": len(results)}


# --------------------------------------------------------------------------- scoring a pool


def score_pool_step(pool: Pool, version: ModelVersion) -> MapStep:
    return MapStep("score_pool.shard", _shards(storage.open_pool(pool)), "score_pool.top",
                   {"pool": pool.pk, "version": version.pk})


def other_scores_path(pool: Pool, version: ModelVersion) -> Path:
    return storage.pool_dir(pool) / "scores" / f"model-{version.pk}.npy"


@shard_function("score_pool.shard")
def _score_shard(job: Job, shard: dict[str, Any], ctx: dict[str, Any], progress: Reporter) -> dict[str, Any]:
    pool, version = Pool.objects.get(pk=ctx["pool"]), ModelVersion.objects.get(pk=ctx["version"])
    layout = storage.open_pool(pool)
    model = TrainedModel.load(storage.model_path(version))
    features = layout.stores[shard["shard"]].scoring_features()
    plan = plan_scoring(model, features)
    scores = plan.score(features, progress=lambda d, t: progress(d, t, "Scoring"))
    out = storage.shard_scores_path(other_scores_path(pool, version), layout, shard["shard"])
    storage.save_array(out, scores)
    top = top_k(np.array(scores, dtype=np.float32), min(TOP_SHOWN, len(scores)))
    return {"rows": [int(r) + shard["offset"] for r in top], "scores": [float(scores[r]) for r in top],
            "scored": int(len(scores)), "file": str(out), "scoring": plan.describe()}


@reducer("score_pool.top")
def _score_top(job: Job, results: list[dict[str, Any]], ctx: dict[str, Any], progress: Reporter) -> dict[str, Any]:
    pool, version = Pool.objects.get(pk=ctx["pool"]), ModelVersion.objects.get(pk=ctx["version"])
    rows, scores = merge_top([(np.asarray(r["rows"]), np.asarray(r["scores"], np.float32)) for r in results], TOP_SHOWN)
    items = dict(Item.objects.filter(pool=pool, row__in=[int(r) for r in rows]).values_list("row", "id"))
    files = [r["file"] for r in results]
    return {"pool": pool.pk, "scored": sum(r["scored"] for r in results),
            "scores_file": files[0] if len(files) == 1 else str(other_scores_path(pool, version).with_suffix("")),
            "shards": len(results), "scoring": results[0]["scoring"],
            "top": [{"item": items.get(int(r)), "score": round(float(s), 4)} for r, s in zip(rows, scores)]}

