"""Gathering: the unlabelled pool items nearest a description's text query (GenMQD) or
nearest x* itself (GenMQD-Fea), streamed over a (memmapped) pool in chunks."""

from __future__ import annotations

from typing import Literal

import numpy as np

from modeling.engine.active import select
from modeling.engine.errors import DimensionMismatchError

Metric = Literal["cosine", "euclidean"]
CHUNK_ROWS = 65_536


def similarity(query: np.ndarray, vectors: np.ndarray, metric: Metric = "cosine",
               chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """Similarity (N,) float32 of every row of ``vectors`` (N, d) to ``query`` (d,): the dot
    product (the cosine for unit rows and a unit query) or the negated squared Euclidean
    distance. ``vectors`` may be a float16 memmap; it is read ``chunk_rows`` at a time."""
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    if vectors.ndim != 2 or vectors.shape[1] != q.shape[0]:
        raise DimensionMismatchError(f"query is {q.shape[0]}-d but the pool rows are {vectors.shape}")
    out = np.empty(vectors.shape[0], dtype=np.float32)
    q_sq = float(q @ q)
    for start in range(0, vectors.shape[0], chunk_rows):
        rows = np.asarray(vectors[start : start + chunk_rows], dtype=np.float32)
        dots = rows @ q
        if metric == "euclidean":
            dots = 2.0 * dots - np.einsum("ij,ij->i", rows, rows) - q_sq
        out[start : start + len(rows)] = dots
    return out


def nearest(query: np.ndarray, vectors: np.ndarray, k: int, exclude: np.ndarray | None = None,
            metric: Metric = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``vectors`` (N, d) most similar to ``query`` (d,), never one in
    ``exclude``, best first: (rows (<= k,) int64, their similarities (<= k,) float32)."""
    scores = similarity(query, vectors, metric)
    rows = select(scores, k, exclude)
    return rows, scores[rows]


def mean_features(features: np.ndarray, sample: int = 100_000, seed: int = 0) -> np.ndarray:
    """Mean (d,) float64 of the rows of ``features`` (N, d), over a seeded sample of at most
    ``sample`` rows read in ascending order (the pool's "typical image" for descriptions)."""
    n = features.shape[0]
    rows = np.arange(n) if n <= sample else np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))
    total = np.zeros(features.shape[1], dtype=np.float64)
    for start in range(0, len(rows), CHUNK_ROWS):
        total += np.asarray(features[rows[start : start + CHUNK_ROWS]], dtype=np.float64).sum(axis=0)
    mean: np.ndarray = total / max(len(rows), 1)
    return mean
