"""Per-vote (incremental) form of the closed-form methods MV, WMV, SV and GTX.

Each of them keeps a score vector per task that every vote changes by a fixed amount,
so live use and the simulator update one task in O(K) per answer instead of
re-aggregating. ``tests/aggregation`` checks that folding votes in one by one gives
exactly the batch methods' posteriors.

* mv:  score += onehot(label)                          posterior = score / sum
* wmv: score += a * onehot(label)                      posterior = score / sum
* sv:  score += (1-a)/(K-1) + (a - (1-a)/(K-1)) * onehot(label)
* gtx: score (log space, starts at log prior) += w * onehot(label),
       w = log a - log((1-a)/(K-1));                    posterior = softmax(score)
"""

from __future__ import annotations

import numpy as np

from ._core import clip_accuracy, normalize_scores, softmax_rows
from .errors import UnknownMethodError
from .types import FloatArray, IntArray

ADDITIVE_METHODS = ("mv", "wmv", "sv", "gtx")


def _check(method: str) -> None:
    if method not in ADDITIVE_METHODS:
        raise UnknownMethodError(
            f"method {method!r} has no per-vote form; choose one of: {', '.join(ADDITIVE_METHODS)}"
        )


def initial_scores(method: str, shape: tuple[int, ...], n_classes: int) -> FloatArray:
    """Scores of tasks with no vote, shape ``shape + (K,)`` (equal class prior)."""
    _check(method)
    fill = -np.log(n_classes) if method == "gtx" else 0.0
    return np.full(shape + (n_classes,), fill, dtype=np.float64)


def vote_increments(
    method: str, labels: IntArray, accuracies: FloatArray, n_classes: int
) -> FloatArray:
    """(n, K) change of the score of each vote's task; ``labels`` and ``accuracies``
    (the voter's accuracy) are (n,)."""
    _check(method)
    labels = np.asarray(labels, dtype=np.int64)
    onehot = np.zeros(labels.shape + (n_classes,))
    np.put_along_axis(onehot, labels[..., None], 1.0, axis=-1)
    if method == "mv":
        return onehot
    a = clip_accuracy(accuracies)[..., None]
    if method == "wmv":
        out: FloatArray = a * onehot
        return out
    spread = (1.0 - a) / max(n_classes - 1, 1)
    if method == "sv":
        out = spread + (a - spread) * onehot if n_classes > 1 else onehot
        return out
    out = (np.log(a) - np.log(spread)) * onehot
    return out


def posteriors_from_scores(method: str, scores: FloatArray) -> FloatArray:
    """Posteriors (..., K) from scores (..., K)."""
    _check(method)
    k = scores.shape[-1]
    flat = scores.reshape(-1, k)
    post = softmax_rows(flat)[0] if method == "gtx" else normalize_scores(flat)
    out: FloatArray = post.reshape(scores.shape)
    return out
