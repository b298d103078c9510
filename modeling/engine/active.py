"""Active-learning strategies as score functions, and one selector for all of them.

A strategy maps the current model's pool probabilities (N,) (and, for some, the pool
embeddings) to a score per item: higher means "ask this next". :func:`select` takes the
k best unrated items with a partition (O(N), never a full sort of the pool).

Registered strategies (:data:`STRATEGIES`, used by :func:`next_batch`):

- ``random``: uniform random scores (the baseline).
- ``margin``: ``-|p - 0.5|``. For two classes margin, least confidence and entropy all
  rank items the same way (each is monotone in ``|p - 0.5|``), so one function serves.
- ``margin-mining``: the batch is filled in sub-rounds of ``SUB_ROUND`` items; each
  sub-round picks by margin while the positives outnumber the negatives, else by top
  score (positive mining). The balance counts the rated labels plus, for items chosen
  in earlier sub-rounds of the same batch (not yet rated), their expected labels (the
  model's probabilities). A caller that gets ratings between sub-rounds calls
  :func:`next_batch` with ``k = SUB_ROUND`` instead, and the balance is then exact.
- ``margin-diverse``: the ``DIVERSE_POOL_FACTOR * k`` most uncertain unrated items,
  then k of them spread out by k-means++ seeding on their embeddings (D^2 sampling),
  so that one batch does not spend its labels on near-duplicates along the boundary.
- ``badge``: BADGE (Ash et al., "Deep Batch Active Learning by Diverse, Uncertain
  Gradient Lower Bounds", ICLR 2020) over the same uncertain candidates: each candidate's
  *gradient embedding*, the gradient of the loss at its predicted label with respect to
  the output layer, which for one sigmoid output is ``min(p, 1 - p) * h`` (``h`` the
  last hidden layer), then k-means++ seeding on those. Items far apart in the model's
  own representation and uncertain are picked first. It needs ``represent`` (rows ->
  last hidden layer); without one (no model yet) it is ``margin-diverse``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from modeling.engine.errors import (
    DimensionMismatchError,
    EmptyPoolError,
    InvalidLabelError,
    UnknownStrategyError,
)

#: Items per sub-round of ``margin-mining``.
SUB_ROUND = 10
#: ``margin-diverse`` spreads k picks over the ``factor * k`` most uncertain items.
DIVERSE_POOL_FACTOR = 10


def random_scores(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform random scores (N,) float64 — the random-sampling baseline."""
    scores: np.ndarray = rng.random(len(probs))
    return scores


def margin(probs: np.ndarray) -> np.ndarray:
    """Uncertainty ``-|p - 0.5|`` (N,): highest for items nearest the decision boundary."""
    scores: np.ndarray = -np.abs(np.asarray(probs, dtype=np.float32) - np.float32(0.5))
    return scores


def top_score(probs: np.ndarray) -> np.ndarray:
    """The probability itself (N,): positive mining picks the most likely positives."""
    return np.asarray(probs, dtype=np.float32)


def select(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Indices (min(k, available),) of the k highest ``scores`` (N,), best first.

    ``exclude`` (m,) lists indices never returned (already rated or already chosen).
    NaN scores count as the lowest score; equal scores go to the lower index. A
    partition keeps it O(N); only the k winners are sorted. Works on one copy of ``scores`` in their own float precision
    (float32 scores of a 10M pool: one 40 MB copy).
    """
    key = np.array(scores, dtype=np.result_type(np.asarray(scores).dtype, np.float32))
    lowest = np.finfo(key.dtype).min
    # Excluded items must lose every comparison, so no other item may sit at -inf.
    np.nan_to_num(key, copy=False, nan=lowest, neginf=lowest)
    n_excluded = 0
    if exclude is not None and len(exclude):
        excluded = np.unique(np.asarray(exclude, dtype=np.int64))
        key[excluded] = -np.inf
        n_excluded = len(excluded)
    return top_k(key, min(k, len(key) - n_excluded))


def top_k(key: np.ndarray, k: int) -> np.ndarray:
    """Indices (k,) of the k highest values of ``key`` (N,), ordered by value, high
    first, then by index, low first: ties are broken by position, so the k winners of a
    pool are the k winners of the union of each shard's own k winners (see
    :mod:`modeling.engine.sharded_active`). O(N): one partition and two comparisons.
    """
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    kth = np.partition(key, len(key) - k)[len(key) - k]
    above = np.flatnonzero(key > kth)
    ties = np.flatnonzero(key == kth)[: k - len(above)]
    top = np.concatenate([above, ties])
    ranked: np.ndarray = top[np.lexsort((top, -key[top]))].astype(np.int64)
    return ranked


#: Ascending pool rows (n,) -> the model's last hidden layer for them (n, h).
Representation = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SelectionContext:
    """What a strategy may look at: pool probabilities (N,), rated indices (m,) and their
    labels (m,), optional embeddings (N, d), and the seeded generator."""

    probs: np.ndarray
    rated: np.ndarray
    rated_labels: np.ndarray
    rng: np.random.Generator
    embeddings: np.ndarray | None = None
    represent: Representation | None = None


Strategy = Callable[[SelectionContext, int], np.ndarray]


def _by_random(ctx: SelectionContext, k: int) -> np.ndarray:
    return select(random_scores(ctx.probs, ctx.rng), k, ctx.rated)


def _by_margin(ctx: SelectionContext, k: int) -> np.ndarray:
    return select(margin(ctx.probs), k, ctx.rated)


def _by_margin_mining(ctx: SelectionContext, k: int) -> np.ndarray:
    """Sub-rounds of :data:`SUB_ROUND`, each by margin or top score per the balance.

    The k best unrated items by each score are found once (two O(N) passes); the
    sub-rounds then walk these two ranked lists. Each list holds k items and the batch
    takes at most k in all, so neither list runs out.
    """
    by_margin = select(margin(ctx.probs), k, ctx.rated)
    by_top = select(top_score(ctx.probs), k, ctx.rated)
    return mining_walk(by_margin, by_top, lambda rows: ctx.probs[rows], ctx.rated_labels, k)


def mining_walk(by_margin: np.ndarray, by_top: np.ndarray, probs_of: Callable[[np.ndarray], np.ndarray],
                rated_labels: np.ndarray, k: int) -> np.ndarray:
    """The margin-mining batch (<= k,) from the k best unrated rows by margin and by top
    score (each best first); ``probs_of(rows)`` gives their probabilities."""
    ranked = {"margin": by_margin, "top": by_top}
    positives = float(np.sum(rated_labels == 1))
    negatives = float(np.sum(rated_labels == 0))
    chosen: list[int] = []
    taken: set[int] = set()
    while len(chosen) < min(k, len(ranked["margin"])):
        source = ranked["margin"] if positives > negatives else ranked["top"]
        size = min(SUB_ROUND, k - len(chosen))
        picked = [i for i in source.tolist() if i not in taken][:size]
        chosen += picked
        taken.update(picked)
        expected = float(np.sum(probs_of(np.asarray(picked, dtype=np.int64))))
        positives, negatives = positives + expected, negatives + len(picked) - expected
    return np.asarray(chosen, dtype=np.int64)


def _by_margin_diverse(ctx: SelectionContext, k: int) -> np.ndarray:
    """k-means++ seeding over the most uncertain unrated items' embeddings."""
    if ctx.embeddings is None:
        raise DimensionMismatchError("margin-diverse needs the pool embeddings (N, d)")
    embeddings = ctx.embeddings
    candidates = select(margin(ctx.probs), DIVERSE_POOL_FACTOR * k, ctx.rated)
    return spread(candidates, k, lambda rows: np.asarray(embeddings[rows], dtype=np.float32), ctx.rng)


def _by_badge(ctx: SelectionContext, k: int) -> np.ndarray:
    """k-means++ seeding over gradient embeddings ``min(p, 1 - p) * h`` of the most
    uncertain unrated items (BADGE restricted to margin's candidates)."""
    if ctx.represent is None:
        return _by_margin_diverse(ctx, k)
    candidates = select(margin(ctx.probs), DIVERSE_POOL_FACTOR * k, ctx.rated)
    return spread(candidates, k, gradient_embeddings(ctx.represent, lambda rows: ctx.probs[rows]), ctx.rng)


def spread(candidates: np.ndarray, k: int, vectors_of: Callable[[np.ndarray], np.ndarray],
           rng: np.random.Generator) -> np.ndarray:
    """k of ``candidates`` (c,) spread out by k-means++ seeding on ``vectors_of(rows)``
    (ascending rows -> (c, d) float32); all of them when c <= k."""
    if len(candidates) <= k:
        return candidates
    ordered = np.sort(candidates)  # ascending rows read a memmap forwards
    picked: np.ndarray = ordered[kmeans_pp_seeds(vectors_of(ordered), k, rng)]
    return picked


def gradient_embeddings(represent: Representation, probs_of: Callable[[np.ndarray], np.ndarray],
                        ) -> Callable[[np.ndarray], np.ndarray]:
    """Ascending rows -> BADGE's gradient embeddings ``min(p, 1 - p) * h`` (n, h)."""

    def vectors(ordered: np.ndarray) -> np.ndarray:
        hidden = np.asarray(represent(ordered), dtype=np.float32)
        if hidden.ndim != 2 or hidden.shape[0] != len(ordered):
            raise DimensionMismatchError(f"represent returned {hidden.shape} for {len(ordered)} rows")
        p = np.asarray(probs_of(ordered), dtype=np.float32)
        out: np.ndarray = hidden * np.minimum(p, 1.0 - p)[:, None]
        return out

    return vectors


def kmeans_pp_seeds(vectors: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices (k,) of ``vectors`` (n, d) chosen by k-means++ seeding (D^2 sampling).

    The first seed is the row nearest the mean (deterministic, central); each next seed
    is drawn with probability proportional to its squared distance to the nearest seed.
    """
    sq_norms = np.einsum("ij,ij->i", vectors, vectors)
    first = int(np.argmin(np.sum((vectors - vectors.mean(axis=0)) ** 2, axis=1)))
    seeds = [first]
    nearest = _sq_dist(vectors, sq_norms, first)
    for _ in range(k - 1):
        total = float(nearest.sum())
        if total <= 0.0:  # all remaining rows duplicate a seed: fall back to uniform
            weights = np.where(np.isin(np.arange(len(vectors)), seeds), 0.0, 1.0)
        else:
            weights = nearest
        nxt = int(rng.choice(len(vectors), p=weights / weights.sum()))
        seeds.append(nxt)
        nearest = np.minimum(nearest, _sq_dist(vectors, sq_norms, nxt))
    return np.asarray(seeds, dtype=np.int64)


def _sq_dist(vectors: np.ndarray, sq_norms: np.ndarray, row: int) -> np.ndarray:
    """Squared Euclidean distance (n,) float64 from every row to ``vectors[row]``."""
    dist = sq_norms + sq_norms[row] - 2.0 * (vectors @ vectors[row])
    clipped: np.ndarray = np.maximum(dist.astype(np.float64), 0.0)  # rounding can dip below 0
    return clipped


#: Name -> strategy; each returns pool indices (<= k,) never in ``rated``.
STRATEGIES: dict[str, Strategy] = {
    "random": _by_random,
    "margin": _by_margin,
    "margin-mining": _by_margin_mining,
    "margin-diverse": _by_margin_diverse,
    "badge": _by_badge,
}


def next_batch(
    strategy: str,
    probs: np.ndarray,
    k: int,
    rated: np.ndarray,
    rated_labels: np.ndarray,
    rng: np.random.Generator,
    embeddings: np.ndarray | None = None,
    represent: Representation | None = None,
) -> np.ndarray:
    """Pool indices (min(k, unrated),) int64 to rate next, chosen by ``strategy``.

    probs: (N,) current model probabilities on the pool; rated: (m,) pool indices
    already rated (never returned); rated_labels: (m,) their labels in {0, 1};
    embeddings: (N, d) pool embeddings, needed by ``margin-diverse``.
    represent: ascending pool rows -> the current model's last hidden layer, for
    ``badge`` (e.g. ``lambda rows: model.hidden(features[rows])``).
    """
    if strategy not in STRATEGIES:
        raise UnknownStrategyError(f"unknown strategy {strategy!r}; known: {sorted(STRATEGIES)}")
    ctx = _context(probs, rated, rated_labels, rng, embeddings, represent)
    if len(np.unique(ctx.rated)) >= len(ctx.probs):
        raise EmptyPoolError("every pool item is already rated")
    return STRATEGIES[strategy](ctx, k)


def _context(
    probs: np.ndarray,
    rated: np.ndarray,
    rated_labels: np.ndarray,
    rng: np.random.Generator,
    embeddings: np.ndarray | None,
    represent: Representation | None = None,
) -> SelectionContext:
    """Validate the inputs of :func:`next_batch` and bundle them."""
    probs = np.asarray(probs)
    if probs.ndim != 1 or len(probs) == 0:
        raise EmptyPoolError(f"probs must be a non-empty (N,) array, got shape {probs.shape}")
    rated = np.asarray(rated, dtype=np.int64).reshape(-1)
    labels = np.asarray(rated_labels).reshape(-1)
    if len(rated) != len(labels):
        raise DimensionMismatchError(f"{len(rated)} rated items but {len(labels)} labels")
    if len(labels) and not np.isin(labels, (0, 1)).all():
        raise InvalidLabelError("rated_labels must all be 0 or 1")
    if len(rated) and (rated.min() < 0 or rated.max() >= len(probs)):
        raise DimensionMismatchError("rated indices fall outside the pool")
    if embeddings is not None and embeddings.shape[0] != len(probs):
        raise DimensionMismatchError(f"embeddings have {embeddings.shape[0]} rows for a pool of {len(probs)}")
    return SelectionContext(probs, rated, labels.astype(np.int64), rng, embeddings, represent)
