"""Labeled items as weighted positives and negatives: hard labels, soft targets, weights.

An item with target t in [0, 1] (1/0 from an expert, P(yes) from aggregated crowd
answers) and weight w >= 0 counts as a positive of weight ``w t`` and a negative of
weight ``w (1 - t)``. For cross-entropy this is exact, not an approximation:
``-w (t log p + (1 - t) log(1 - p))`` is the weighted sum of the two hard-label losses.
So every head trains on hard 0/1 rows with weights, whatever kind of labels came in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modeling.engine.errors import DimensionMismatchError, InvalidLabelError, NotEnoughLabelsError


@dataclass(frozen=True)
class WeightedExamples:
    """Rows of the labeled features entering as positives and as negatives, with weights.

    ``positives`` (p,) and ``negatives`` (q,) index the labeled rows (a soft-labelled row
    may be in both); ``positive_weights`` (p,) and ``negative_weights`` (q,) are > 0.
    """

    positives: np.ndarray
    positive_weights: np.ndarray
    negatives: np.ndarray
    negative_weights: np.ndarray

    @property
    def uniform(self) -> bool:
        """All weights 1: plain hard labels (then draws need no probabilities)."""
        return bool(np.all(self.positive_weights == 1.0) and np.all(self.negative_weights == 1.0))

    def hard(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows (p + q,), labels (p + q,) in {0, 1}, weights (p + q,)): the rows stacked."""
        rows = np.concatenate([self.positives, self.negatives])
        labels = np.concatenate([np.ones(len(self.positives)), np.zeros(len(self.negatives))])
        return rows, labels.astype(np.int64), np.concatenate([self.positive_weights, self.negative_weights])


def split_targets(labels: np.ndarray, weights: np.ndarray | None = None) -> WeightedExamples:
    """Check ``labels`` (n,) in [0, 1] and ``weights`` (n,) >= 0 and split them.

    Raises :class:`InvalidLabelError` for targets outside [0, 1] or NaN, negative or
    non-finite weights; :class:`DimensionMismatchError` for weights of another shape.
    """
    t = np.asarray(labels, dtype=np.float64)
    if not np.all((t >= 0.0) & (t <= 1.0)):  # NaN fails both comparisons
        raise InvalidLabelError("labels must be 0 or 1, or soft targets in [0, 1]")
    w = np.ones_like(t) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != t.shape:
        raise DimensionMismatchError(f"weights must have shape {t.shape}, got {w.shape}")
    if not np.all(np.isfinite(w) & (w >= 0.0)):
        raise InvalidLabelError("weights must be finite and non-negative")
    pos_w, neg_w = w * t, w * (1.0 - t)
    positives, negatives = np.flatnonzero(pos_w > 0), np.flatnonzero(neg_w > 0)
    return WeightedExamples(positives, pos_w[positives], negatives, neg_w[negatives])


def require_classes(examples: WeightedExamples, has_pool: bool) -> None:
    """Training needs positive mass, and negative mass too when there is no pool to draw from."""
    if not len(examples.positives):
        raise NotEnoughLabelsError("training needs at least one positive label")
    if not has_pool and not len(examples.negatives):
        raise NotEnoughLabelsError("without a pool, training needs at least one negative label")
