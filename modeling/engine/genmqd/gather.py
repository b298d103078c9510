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
