"""Candidate expansion: items near the expert's phrases, a seeded sample of them to rate.

The concept's name is itself a positive phrase: the caller embeds it and passes its
vector among ``positive_vectors``. Every phrase, positive or negative alike, contributes
its ``per_phrase`` nearest items (negative phrases find the hard negatives the expert
named); the union is de-duplicated and a seeded random ``sample`` of it is rated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modeling.engine.errors import DimensionMismatchError, MissingPhraseError
from modeling.engine.index import VectorIndex


@dataclass(frozen=True)
class ExpansionResult:
    """candidates: (c,) int64 sorted unique item indices found by any phrase;
    batch: (min(sample, c),) int64, a seeded random subset of candidates, in rating order;
    neighbours: (p, per_phrase) int64 ids per phrase (positives first, -1 = none)."""

    candidates: np.ndarray
    batch: np.ndarray
    neighbours: np.ndarray

    def __repr__(self) -> str:
        return (
            f"ExpansionResult(phrases={len(self.neighbours)}, "
            f"candidates={len(self.candidates)}, batch={len(self.batch)})"
        )


def expand(
    index: VectorIndex,
    positive_vectors: np.ndarray,
    negative_vectors: np.ndarray,
    *,
    per_phrase: int = 100,
    sample: int = 100,
    rng: np.random.Generator,
    exclude: np.ndarray | None = None,
) -> ExpansionResult:
    """Nearest ``per_phrase`` items of every phrase vector, unioned, plus a sample to rate.

    positive_vectors: (p, d) phrase vectors, the concept name's among them;
    negative_vectors: (n, d), may have 0 rows; exclude: (m,) item indices (e.g. already
    rated) left out of the candidates.
    """
    queries = _phrase_matrix(positive_vectors, negative_vectors, index.dim)
    _, ids = index.search(queries, per_phrase)
    return finish_expansion(ids, sample, rng, exclude)


def finish_expansion(ids: np.ndarray, sample: int, rng: np.random.Generator,
                     exclude: np.ndarray | None = None) -> ExpansionResult:
    """Candidates (every phrase's rows ``ids`` (q, per_phrase), -1 = none, unioned, minus
    ``exclude``) and the seeded sample of them to rate (also the reduce of a sharded search)."""
    found = np.unique(ids[ids >= 0])
    if exclude is not None and len(exclude):
        found = found[~np.isin(found, exclude)]
    batch = rng.choice(found, size=min(sample, len(found)), replace=False) if len(found) else found
    return ExpansionResult(found.astype(np.int64), np.asarray(batch, dtype=np.int64), ids)


def _phrase_matrix(positives: np.ndarray, negatives: np.ndarray, dim: int) -> np.ndarray:
    """Positive then negative phrase vectors stacked (p + n, dim) float32."""
    parts = [_phrases(positives, dim, "positive"), _phrases(negatives, dim, "negative")]
    if len(parts[0]) == 0:
        raise MissingPhraseError("expansion needs at least one positive phrase (the concept name)")
    return np.vstack(parts)


def _phrases(vectors: np.ndarray, dim: int, role: str) -> np.ndarray:
    """``vectors`` as (n, dim) float32; an empty input gives (0, dim)."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.size == 0:
        return np.empty((0, dim), dtype=np.float32)
    arr = np.atleast_2d(arr)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise DimensionMismatchError(f"{role} phrase vectors must be (n, {dim}), got {arr.shape}")
    return arr
