"""Ranking and threshold metrics for a binary concept, with bootstrap intervals.

Every metric takes ``labels`` (n,) in {0, 1}, ``scores`` (n,) real (higher means
"more positive") and optional non-negative ``weights`` (n,) or (B, n). Weights serve
two callers with one code path:

- the evaluation sampler's weighted estimator, where a sampled item stands for
  ``stratum_size / sample_size`` items of the pool;
- the bootstrap, where replicate ``b`` is the multinomial count vector ``weights[b]``
  over the original items. Resampling by counts keeps the one sort of the scores
  shared by every replicate, so B replicates cost one ``argsort`` plus (B, n)
  cumulative sums instead of B sorts.

Tied scores are grouped as scikit-learn does: a curve point sits only at the end of
each run of equal scores, so AP and AUC-ROC agree with ``average_precision_score``
and ``roc_auc_score`` (for AUC-ROC that is Mann–Whitney U / (n+ n-) with ties
counted one half).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from modeling.engine.errors import DimensionMismatchError, InvalidLabelError

FloatArray = NDArray[np.float64]
METRIC_NAMES: tuple[str, ...] = ("auc_pr", "auc_roc", "f1", "accuracy")
# 1.96: two-sided 95 % normal quantile, used for every interval this module returns.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A metric's point estimate with its standard error and a 95 % interval.

    ``low``/``high`` are clipped to [0, 1] (every metric here lives there) and always
    contain ``value``: the interval is ``value ± 1.96 se`` (Efron's standard interval).
    """

    value: float
    se: float
    low: float
    high: float

    @classmethod
    def normal(cls, value: float, se: float) -> Estimate:
        """Build ``value ± 1.96 se`` clipped to [0, 1]; a NaN ``se`` gives a point interval."""
        value, se = float(value), float(se)
        if not np.isfinite(value) or not np.isfinite(se):
            return cls(value, se, value, value)
        low = min(value, max(0.0, value - Z95 * se))
        high = max(value, min(1.0, value + Z95 * se))
        return cls(value, se, low, high)

    def __repr__(self) -> str:
        return f"Estimate({self.value:.4f} ± {self.se:.4f}, 95% [{self.low:.4f}, {self.high:.4f}])"


def check_binary(labels: NDArray[np.generic], scores: NDArray[np.generic]) -> None:
    """Raise a domain error unless ``labels`` is (n,) of 0/1 and matches ``scores``."""
    if labels.ndim != 1 or scores.shape != labels.shape:
        raise DimensionMismatchError(
            f"labels {labels.shape} and scores {scores.shape} must be two (n,) arrays"
        )
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise InvalidLabelError("binary labels must be 0 or 1")


def _weights_2d(weights: NDArray[np.floating] | None, n: int) -> FloatArray:
    """Return weights as (B, n) float64; ``None`` means one replicate of ones."""
    if weights is None:
        return np.ones((1, n))
    w = np.asarray(weights, dtype=np.float64)
    w2 = w[None, :] if w.ndim == 1 else w
    if w2.ndim != 2 or w2.shape[1] != n:
        raise DimensionMismatchError(f"weights {w.shape} do not match {n} items")
    return w2


def _curve(
    labels: NDArray[np.integer], scores: NDArray[np.floating], weights: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Weighted cumulative (TP, FP) at each distinct threshold, highest score first.

    Returns two (B, t) arrays, t = number of distinct scores: column j counts the
    items scoring at least the j-th highest distinct score.
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    s = np.asarray(scores, dtype=np.float64)[order]
    y = np.asarray(labels, dtype=np.float64)[order]
    w = weights[:, order]
    # The end of each run of tied scores is where the curve gets a point.
    ends = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tp = np.cumsum(w * y, axis=1)[:, ends]
    fp = np.cumsum(w * (1.0 - y), axis=1)[:, ends]
    return tp, fp


def _ap_rows(tp: FloatArray, fp: FloatArray) -> FloatArray:
    """Average precision per row: sum over thresholds of (ΔRecall × precision)."""
    pos = tp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        d_recall = np.diff(np.c_[np.zeros(len(tp)), tp], axis=1) / pos
        out = np.sum(d_recall * precision, axis=1)
    return np.where(pos[:, 0] > 0, out, np.nan)


def _roc_rows(tp: FloatArray, fp: FloatArray) -> FloatArray:
    """Area under the ROC curve per row by the trapezoid rule (ties count ½)."""
    pos, neg = tp[:, -1], fp[:, -1]
    tp0 = np.c_[np.zeros(len(tp)), tp]
    fp0 = np.c_[np.zeros(len(fp)), fp]
    # Trapezoid area in count units, then normalised: Σ ΔFP × (TP_prev + TP) / 2.
    area = np.sum(np.diff(fp0, axis=1) * (tp0[:, 1:] + tp0[:, :-1]) * 0.5, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = area / (pos * neg)
    return np.where((pos > 0) & (neg > 0), out, np.nan)


def _threshold_counts(
    labels: NDArray[np.integer], scores: NDArray[np.floating], threshold: float, w: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Weighted (TP, FP, FN, TN) per row, predicting positive when score >= threshold."""
    pred = np.asarray(scores) >= threshold
    y = np.asarray(labels) == 1
    tp = w @ (pred & y).astype(np.float64)
    fp = w @ (pred & ~y).astype(np.float64)
    fn = w @ (~pred & y).astype(np.float64)
    tn = w @ (~pred & ~y).astype(np.float64)
    return tp, fp, fn, tn


def _f1_rows(tp: FloatArray, fp: FloatArray, fn: FloatArray) -> FloatArray:
    """F1 = 2TP / (2TP + FP + FN); 0 when there is neither a positive nor a prediction."""
    denom = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2 * tp / denom, 0.0)


def average_precision(
    labels: NDArray[np.integer],
    scores: NDArray[np.floating],
    weights: NDArray[np.floating] | None = None,
) -> float:
    """AUC-PR as average precision (scikit-learn's definition); NaN with no positive."""
    check_binary(labels, scores)
    if labels.size == 0:
        return float("nan")
    tp, fp = _curve(labels, scores, _weights_2d(weights, labels.size))
    return float(_ap_rows(tp, fp)[0])


def roc_auc(
    labels: NDArray[np.integer],
    scores: NDArray[np.floating],
    weights: NDArray[np.floating] | None = None,
) -> float:
    """AUC-ROC = P(score of a positive > score of a negative) + ½ P(tie); NaN if one class."""
    check_binary(labels, scores)
    if labels.size == 0:
        return float("nan")
    tp, fp = _curve(labels, scores, _weights_2d(weights, labels.size))
    return float(_roc_rows(tp, fp)[0])


def f1_at(
    labels: NDArray[np.integer],
    scores: NDArray[np.floating],
    threshold: float,
    weights: NDArray[np.floating] | None = None,
) -> float:
    """F1 of the rule ``score >= threshold``."""
    check_binary(labels, scores)
    tp, fp, fn, _ = _threshold_counts(labels, scores, threshold, _weights_2d(weights, labels.size))
    return float(_f1_rows(tp, fp, fn)[0])


def accuracy_at(
    labels: NDArray[np.integer],
    scores: NDArray[np.floating],
    threshold: float,
    weights: NDArray[np.floating] | None = None,
) -> float:
    """Accuracy of the rule ``score >= threshold``; NaN on an empty set."""
    check_binary(labels, scores)
    tp, fp, fn, tn = _threshold_counts(labels, scores, threshold, _weights_2d(weights, labels.size))
    total = tp + fp + fn + tn
    return float(((tp + tn) / total)[0]) if total[0] > 0 else float("nan")


def metric_rows(
    labels: NDArray[np.integer],
    scores: NDArray[np.floating],
    threshold: float,
    weights: FloatArray,
) -> dict[str, FloatArray]:
    """All four metrics for each row of ``weights`` (B, n): name -> (B,) values."""
    tp_c, fp_c = _curve(labels, scores, weights)
    tp, fp, fn, tn = _threshold_counts(labels, scores, threshold, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = (tp + tn) / (tp + fp + fn + tn)
    return {
        "auc_pr": _ap_rows(tp_c, fp_c),
        "auc_roc": _roc_rows(tp_c, fp_c),
        "f1": _f1_rows(tp, fp, fn),
        "accuracy": accuracy,
    }


def bootstrap_weights(n: int, n_boot: int, rng: np.random.Generator) -> FloatArray:
    """(n_boot, n) multinomial resampling counts: row b = how often item i was drawn."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def evaluate(
    labels: NDArray[np.integer],
    scores: NDArray[np.floating],
    threshold: float = 0.5,
    *,
    n_boot: int = 200,
    rng: np.random.Generator | None = None,
) -> dict[str, Estimate]:
    """AUC-PR, AUC-ROC, F1 and accuracy at ``threshold`` with bootstrap standard errors.

    ``labels`` (n,) 0/1, ``scores`` (n,). The standard error is the standard deviation
    over ``n_boot`` resamples of the n items (NaN replicates, e.g. a resample with no
    positive, are left out); ``n_boot=0`` gives point estimates with ``se = nan``.
    """
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    check_binary(labels, scores)
    point = metric_rows(labels, scores, threshold, np.ones((1, labels.size)))
    boot: dict[str, FloatArray] = {}
    if n_boot > 0 and labels.size > 0:
        gen = rng if rng is not None else np.random.default_rng(0)
        boot = metric_rows(labels, scores, threshold, bootstrap_weights(labels.size, n_boot, gen))
    return {name: _estimate(float(point[name][0]), boot.get(name)) for name in METRIC_NAMES}


def _estimate(value: float, replicates: FloatArray | None) -> Estimate:
    """Point value with the bootstrap standard deviation of its finite replicates."""
    if replicates is None:
        return Estimate.normal(value, float("nan"))
    finite = replicates[np.isfinite(replicates)]
    se = float(np.std(finite, ddof=1)) if finite.size > 1 else float("nan")
    return Estimate.normal(value, se)
