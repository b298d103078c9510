"""Sharded pools: the same batch, neighbours and evaluation sample whatever the layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling.engine.active import STRATEGIES, next_batch
from modeling.engine.expansion import expand
from modeling.engine.index import build_index
from modeling.engine.sampler import stratified_sample
from modeling.engine.sharded_active import ShardCandidates, reduce_batch, shard_candidates, sharded_next_batch
from modeling.engine.sharded_expansion import finish_expansion, merge_neighbours, phrase_queries, shard_neighbours
from modeling.engine.sharded_sampler import ShardStrata, merge_strata, shard_strata
from modeling.engine.shards import ShardedPool, plan_shards, shard_name
from modeling.engine.store import EmbeddingStore, StoreError

pytestmark = pytest.mark.engine


def _pool(n: int, seed: int, levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """probs (n,) with many ties (``levels`` distinct values), embeddings (n, 8), hidden (n, 4)."""
    rng = np.random.default_rng(seed)
    probs = (rng.integers(0, levels, n) / (levels - 1)).astype(np.float32)
    return probs, rng.normal(size=(n, 8)).astype(np.float32), rng.normal(size=(n, 4)).astype(np.float32)


def _split(n: int, cuts: list[int]) -> list[tuple[int, int]]:
    edges = sorted({0, n, *(c % n for c in cuts)})
    return list(zip(edges[:-1], edges[1:]))


@settings(max_examples=60, deadline=None)
@given(strategy=st.sampled_from(sorted(STRATEGIES)), n=st.integers(30, 400), k=st.integers(1, 40),
       levels=st.sampled_from([3, 11, 1000]), cuts=st.lists(st.integers(0, 10_000), max_size=6),
       seed=st.integers(0, 10_000), n_rated=st.integers(0, 25), badge_model=st.booleans())
def test_it_picks_the_unsharded_batch_for_every_strategy_and_layout(
    strategy: str, n: int, k: int, levels: int, cuts: list[int], seed: int, n_rated: int, badge_model: bool
) -> None:
    probs, embeddings, hidden = _pool(n, seed, levels)
    gen = np.random.default_rng(seed + 1)
    rated = gen.choice(n, size=min(n_rated, n - 1), replace=False)
    labels = gen.integers(0, 2, len(rated))
    represent = (lambda rows: hidden[rows]) if badge_model else None
    whole = next_batch(strategy, probs, k, rated, labels, np.random.default_rng(seed),
                       embeddings=embeddings, represent=represent)
    shards = [probs[a:b] for a, b in _split(n, cuts)]
    rng = np.random.default_rng(seed)
    sharded = sharded_next_batch(strategy, shards, k, rated, labels, rng,
                                 embeddings_of=lambda rows: embeddings[rows], represent=represent)
    assert sharded.tolist() == whole.tolist()
    reference = np.random.default_rng(seed)
    next_batch(strategy, probs, k, rated, labels, reference, embeddings=embeddings, represent=represent)
    assert rng.random() == reference.random()  # the round leaves the generator where the unsharded one does


def test_shard_candidates_survive_their_json_round_trip() -> None:
    probs, _, _ = _pool(200, 3, 7)
    state = np.random.default_rng(4).bit_generator.state
    for strategy in STRATEGIES:
        part = shard_candidates(strategy, 10, probs, 1_000, np.array([1_003, 5]), state)
        again = ShardCandidates.from_json(part.to_json())
        assert again.rows == 200 and again.unrated == 199
        for name, ranked in part.lists.items():
            assert np.array_equal(again.lists[name].rows, ranked.rows)
            assert np.array_equal(again.lists[name].keys, ranked.keys)
            assert again.lists[name].keys.dtype == ranked.keys.dtype
        assert 1_003 not in np.concatenate([r.rows for r in part.lists.values()])


def test_a_fully_rated_sharded_pool_is_an_empty_pool() -> None:
    parts = [shard_candidates("margin", 5, np.full(3, 0.5, np.float32), 0, np.arange(3))]
    with pytest.raises(ValueError, match="already rated"):
        reduce_batch("margin", 5, parts, np.zeros(3), np.random.default_rng(0))


def _store(path: Path, vectors: np.ndarray, first: int) -> EmbeddingStore:
    store = EmbeddingStore.create(path, vectors.shape[1], vectors.shape[1], "float32", features_are_vectors=True)
    store.append([f"item-{first + i}" for i in range(len(vectors))], vectors)
    return store


def test_a_sharded_pool_reads_like_the_one_store_it_replaces(tmp_path: Path) -> None:
    vectors = np.random.default_rng(0).normal(size=(23, 6)).astype(np.float32)
    ranges = plan_shards(23, 10)
    assert ranges == [(0, 10), (10, 20), (20, 23)]
    with pytest.raises(StoreError):
        ShardedPool.open(tmp_path / "sharded")  # nothing sealed yet: never opened half-written
    for i, (a, b) in enumerate(ranges):
        _store(tmp_path / "sharded" / shard_name(i), vectors[a:b], a)
    pool = ShardedPool.seal(tmp_path / "sharded", 10, len(ranges))
    single = ShardedPool.open(_store(tmp_path / "single", vectors, 0).path)
    assert len(pool) == len(single) == 23 and len(single.stores) == 1 and single.shard_rows == 0
    assert pool.keys == single.keys
    rows = np.array([22, 0, 11, 9, 10, 3])
    assert np.array_equal(pool.gather("features", rows), vectors[rows])
    assert np.array_equal(single.gather("vectors", rows), vectors[rows])


def test_sharded_exact_search_finds_the_unsharded_neighbours() -> None:
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    positives, negatives = vectors[[3, 100]] + 0.01, vectors[[250]]
    whole = expand(build_index(vectors), positives, negatives, per_phrase=20, sample=15,
                   rng=np.random.default_rng(1), exclude=np.array([3]))
    queries = phrase_queries(positives, negatives, 16)
    parts = [shard_neighbours(build_index(vectors[a:b]), queries, 20, a) for a, b in plan_shards(300, 70)]
    _, ids = merge_neighbours(parts, 20)
    sharded = finish_expansion(ids, 15, np.random.default_rng(1), exclude=np.array([3]))
    assert np.array_equal(sharded.neighbours, whole.neighbours)
    assert np.array_equal(sharded.candidates, whole.candidates)
    assert np.array_equal(sharded.batch, whole.batch)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 600), k=st.integers(1, 12), cuts=st.lists(st.integers(0, 10_000), max_size=5),
       seed=st.integers(0, 1_000))
def test_sharded_strata_give_the_unsharded_evaluation_sample(n: int, k: int, cuts: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys = [f"img-{seed}-{i}.jpg" for i in range(n)]
    scores = {"v1": rng.random(n), "zero-shot": rng.beta(0.3, 3, n)}
    whole = stratified_sample(keys, scores, k)
    parts = [ShardStrata.from_json(shard_strata(keys[a:b], np.arange(a, b), {m: s[a:b] for m, s in scores.items()},
                                                k).to_json()) for a, b in _split(n, cuts)]
    merged = merge_strata(parts, k)
    assert np.array_equal(merged.indices, whole.indices)
    for name, model in whole.models.items():
        assert np.array_equal(merged.models[name].indices, model.indices)
        assert np.array_equal(merged.models[name].strata, model.strata)
        assert np.array_equal(merged.models[name].stratum_sizes, model.stratum_sizes)
