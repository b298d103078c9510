"""Expansion over a sharded pool: k-NN per shard index (map), merged per phrase (reduce).

Each shard searches its own index for every phrase's ``per_phrase`` nearest rows and
returns (scores, pool rows); the reduce keeps each phrase's best ``per_phrase`` over all
shards (score best first, then row low first) and finishes as
:func:`~modeling.engine.expansion.expand` does. With exact (flat) shard indexes the
result equals an unsharded exact search; with approximate ones each shard's recall is
that of its own index.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from modeling.engine.expansion import _phrase_matrix, finish_expansion
from modeling.engine.index import Metric, VectorIndex

Neighbours = tuple[np.ndarray, np.ndarray]
__all__ = ["finish_expansion", "merge_neighbours", "phrase_queries", "shard_neighbours"]


def phrase_queries(positive_vectors: np.ndarray, negative_vectors: np.ndarray, dim: int) -> np.ndarray:
    """Positive then negative phrase vectors (p + n, dim) float32, validated."""
    return _phrase_matrix(positive_vectors, negative_vectors, dim)


def shard_neighbours(index: VectorIndex, queries: np.ndarray, per_phrase: int, offset: int) -> Neighbours:
    """The map step: (scores (q, per_phrase), pool rows (q, per_phrase), -1 = none) of
    one shard whose row 0 is pool row ``offset``."""
    scores, ids = index.search(queries, per_phrase)
    return scores, np.where(ids >= 0, ids + offset, -1)


def merge_neighbours(parts: Sequence[Neighbours], per_phrase: int, metric: Metric = "ip") -> Neighbours:
    """The reduce of the searches: each query's best ``per_phrase`` over every shard."""
    scores = np.hstack([s for s, _ in parts])
    ids = np.hstack([i for _, i in parts])
    sign = -1.0 if metric == "ip" else 1.0  # ascending sign * score = best first
    key = np.where(ids >= 0, sign * scores.astype(np.float64), np.inf)
    order = np.lexsort((np.where(ids >= 0, ids, np.iinfo(np.int64).max), key), axis=1)[:, :per_phrase]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)
