"""``train``: validate the labeled items, then fit the configured head (``heads.fit_head``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from modeling.engine.errors import DimensionMismatchError, EmptyPoolError
from modeling.engine.trainer.config import HEADS, TrainConfig
from modeling.engine.trainer.heads import fit_head
from modeling.engine.trainer.model import TrainedModel
from modeling.engine.trainer.targets import WeightedExamples, require_classes, split_targets

Progress = Callable[[int, int], None]


def train(
    features: np.ndarray,
    labels: np.ndarray,
    pool_features: np.ndarray | None,
    config: TrainConfig,
    progress: Progress | None = None,
    *,
    exclude: np.ndarray | None = None,
    previous_scores: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> TrainedModel:
    """Train a classifier (the head ``config.head`` names) on labeled embeddings plus
    random pool negatives.

    features: (n, d) float16/float32 embeddings of the labeled items.
    labels: (n,) targets in [0, 1]: 0/1 for an expert's answers, or the probability
        that the item is positive (a soft target, e.g. an aggregated crowd posterior
        P(yes)). Some positive mass is needed.
    pool_features: (N, d) pool embeddings (a float16 memmap is fine) or None; the
        source of random negatives, drawn uniformly, ``config.random_negatives`` rows.
    progress: called as ``progress(epochs_done, epochs_planned)`` after every epoch.
    exclude: (m,) pool row indices never drawn as random negatives (e.g. rated items,
        which already enter as labeled rows).
    previous_scores: (N,) the previous model's probabilities for every pool row (or the
        zero-shot scores before the first model); rows scoring at least
        ``config.likely_positive_threshold`` are not drawn as random negatives either.
    weights: (n,) non-negative per-item weights (default 1), e.g. to let a crowd label
        count less than an expert's. An item of target t and weight w enters training
        as a positive of weight w t and a negative of weight w (1 - t), which is exactly
        the soft-target cross-entropy ``-w (t log p + (1 - t) log(1 - p))``.
    """
    if config.head not in HEADS:
        raise ValueError(f"unknown head {config.head!r}; choose one of {', '.join(HEADS)}")
    x, examples = _validated(features, labels, pool_features, weights)
    exclude = _with_likely_positives(exclude, previous_scores, pool_features, config.likely_positive_threshold)
    # One BLAS thread too (scikit-learn's L-BFGS): same reasons as the torch threads.
    with torch_threads(config.threads), threadpool_limits(config.threads):
        return fit_head(x, np.asarray(labels), weights, examples, pool_features, config, progress, exclude)


def likely_positive_rows(previous_scores: np.ndarray, threshold: float) -> np.ndarray:
    """Pool rows (int64, ascending) the previous model scores at least ``threshold``."""
    return np.flatnonzero(np.asarray(previous_scores) >= threshold).astype(np.int64)


def _with_likely_positives(
    exclude: np.ndarray | None,
    previous_scores: np.ndarray | None,
    pool: np.ndarray | None,
    threshold: float | None,
) -> np.ndarray | None:
    """``exclude`` plus the rows ``previous_scores`` calls likely positive (when both the
    scores and the threshold are given); overlaps are left to :class:`NegativeDraws`'s mask."""
    if previous_scores is None or threshold is None or pool is None:
        return exclude
    if np.shape(previous_scores) != (pool.shape[0],):
        raise DimensionMismatchError(
            f"previous_scores must hold one score per pool row, ({pool.shape[0]},); got {np.shape(previous_scores)}"
        )
    likely = likely_positive_rows(previous_scores, threshold)
    return likely if exclude is None else np.concatenate([np.asarray(exclude, dtype=np.int64), likely])


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads, restoring the old count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _validated(
    features: np.ndarray, labels: np.ndarray, pool: np.ndarray | None, weights: np.ndarray | None
) -> tuple[np.ndarray, WeightedExamples]:
    """Float32 features and the weighted positives/negatives, after checking shapes and values."""
    if features.ndim != 2 or labels.shape != (features.shape[0],):
        raise DimensionMismatchError(
            f"features must be (n, d) and labels (n,); got {features.shape} and {labels.shape}"
        )
    if pool is not None and (pool.ndim != 2 or pool.shape[1] != features.shape[1]):
        raise DimensionMismatchError(f"pool_features must be (N, {features.shape[1]}), got {pool.shape}")
    if pool is not None and pool.shape[0] == 0:
        raise EmptyPoolError("pool_features has no rows to draw random negatives from")
    examples = split_targets(labels, weights)
    require_classes(examples, pool is not None)
    return np.ascontiguousarray(features, dtype=np.float32), examples
