"""Numerical helpers shared by the methods: vote tallies, log-space normalisation,
accuracy clipping and the seeded tie-breaking rule.

Tie-breaking rule (used by every method's final argmax)
-------------------------------------------------------
Classes whose score is within ``TIE_ATOL`` of the task's best score are tied. Among
tied classes the winner is the one with the largest key ``splitmix64(seed, task, class)``,
a fixed 64-bit hash. This is a uniformly random choice that is

* seeded (``seed`` argument, default 0) and reproducible,
* independent of the other tasks: a task's winner depends only on (seed, task code,
  tied classes), so aggregating one item live gives the same label as a batch run,
* unbiased: with a different seed each class wins a tie equally often, so ties do not
  favour class 0 (breaking ties by "first column", as pandas ``idxmax`` does, would).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from .types import AggregationResult, Answers, FloatArray, IntArray

#: Accuracies (known, estimated or learnt) are clipped to [ACCURACY_EPS, 1 - ACCURACY_EPS]
#: so that log a and log(1 - a) stay finite: one worker can move a log-odds by at most
#: log((1 - eps) / eps) = 6.9 nats, never infinitely.
ACCURACY_EPS = 1e-3
#: Floor for probabilities inside EM (confusion-matrix entries, class prior); the same
#: value crowd-kit uses (1e-10), so Dawid-Skene reproduces its fixed points.
PROB_FLOOR = 1e-10
#: Scores closer than this to the best score of a task count as tied.
TIE_ATOL = 1e-9

P = TypeVar("P")

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser over a uint64 array (wrapping arithmetic)."""
    z = x.astype(np.uint64) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: np.ndarray = z ^ (z >> np.uint64(31))
    return out


def tie_keys(task_codes: IntArray, n_classes: int, seed: int) -> np.ndarray:  # uint64
    """(len(task_codes), K) uint64 keys; the tied class with the largest key wins."""
    cell = task_codes.astype(np.uint64)[:, None] * np.uint64(n_classes) + np.arange(
        n_classes, dtype=np.uint64
    )
    with np.errstate(over="ignore"):
        out: np.ndarray = splitmix64(cell ^ splitmix64(np.full(1, seed, dtype=np.uint64)))
    return out


def row_max(x: FloatArray) -> FloatArray:
    """Max of each row of an (n, K) array. numpy reduces a short inner axis slowly
    (~10x slower than a column loop at K = 2), so small K loops over columns."""
    if x.shape[1] > 16:
        out: FloatArray = x.max(axis=1)
        return out
    out = x[:, 0].copy()
    for k in range(1, x.shape[1]):
        np.maximum(out, x[:, k], out=out)
    return out


def row_sum(x: np.ndarray) -> np.ndarray:
    """Sum of each row of an (n, K) array (column loop for small K, see ``row_max``)."""
    if x.shape[1] > 16:
        return np.asarray(x.sum(axis=1))
    out = x[:, 0].astype(np.float64)
    for k in range(1, x.shape[1]):
        out += x[:, k]
    return out


def decide(scores: FloatArray, seed: int = 0, task_codes: IntArray | None = None) -> IntArray:
    """Argmax of each row of ``scores`` (n, K) with the seeded tie rule above.

    ``task_codes`` (n,) names the tasks when ``scores`` is a subset of rows (live use);
    by default row i is task i.
    """
    n, k = scores.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    labels: IntArray = scores.argmax(axis=1).astype(np.int64)
    tied = scores >= (row_max(scores) - TIE_ATOL)[:, None]
    rows = np.flatnonzero(row_sum(tied) > 1)
    if rows.size:
        codes = rows if task_codes is None else np.asarray(task_codes, dtype=np.int64)[rows]
        keys = np.where(tied[rows], tie_keys(codes, k, seed), np.uint64(0))
        labels[rows] = keys.argmax(axis=1)
    return labels


def tally(
    answers: Answers, weights: FloatArray | None = None, cells: IntArray | None = None
) -> FloatArray:
    """(n_tasks, K) sum of ``weights`` (default 1) of the votes for each class.
    ``cells`` may pass a precomputed ``answers.cells()`` (EM loops reuse it)."""
    k = answers.n_classes
    cells = answers.cells() if cells is None else cells
    flat = np.bincount(cells, weights=weights, minlength=answers.n_tasks * k)
    return flat.astype(np.float64, copy=False).reshape(answers.n_tasks, k)


def vote_counts(answers: Answers) -> IntArray:
    """(n_tasks,) number of votes per task."""
    return np.bincount(answers.tasks, minlength=answers.n_tasks).astype(np.int64)


def normalize_scores(scores: FloatArray) -> FloatArray:
    """Rows divided by their sum; an all-zero row (no votes) becomes uniform."""
    total = row_sum(scores)
    empty = total <= 0
    total[empty] = 1.0
    out: FloatArray = scores / total[:, None]
    if empty.any():
        out[empty] = 1.0 / scores.shape[1]
    return out


def softmax_rows(logits: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Row-wise softmax in log space and the row log-sum-exp.

    Subtracting the row max before ``exp`` keeps the largest term at exp(0) = 1, so
    products of thousands of small likelihoods neither underflow nor overflow.
    """
    top = row_max(logits)
    shifted = np.exp(logits - top[:, None])
    total = row_sum(shifted)
    shifted /= total[:, None]
    return shifted, top + np.log(total)


def clip_accuracy(acc: FloatArray, eps: float = ACCURACY_EPS) -> FloatArray:
    """Accuracies clipped to [eps, 1 - eps] (see ``ACCURACY_EPS``)."""
    return np.clip(np.asarray(acc, dtype=np.float64), eps, 1.0 - eps)


def one_coin_weights(acc: FloatArray, n_classes: int) -> tuple[FloatArray, FloatArray]:
    """Per-worker log-likelihood terms of the one-coin model.

    Returns (log_right, log_wrong): log a and log((1 - a) / (K - 1)). A vote adds
    ``log_wrong`` to every class and ``log_right - log_wrong`` more to its own class,
    so only the difference (the worker's log-odds weight) moves the posterior.
    """
    a = clip_accuracy(acc)
    return np.log(a), np.log((1.0 - a) / max(n_classes - 1, 1))


def finish(
    method: str,
    posteriors: FloatArray,
    answers: Answers,
    seed: int,
    gold: IntArray | None = None,
    *,
    skills: FloatArray | None = None,
    confusion: FloatArray | None = None,
    class_prior: FloatArray | None = None,
    n_iter: int = 0,
    converged: bool = True,
    log_likelihood: tuple[float, ...] = (),
) -> AggregationResult:
    """The ``AggregationResult`` of (n_tasks, K) posteriors.

    Tasks with no votes get a uniform posterior whatever the method (an EM prior
    would otherwise leak in); gold tasks, when given, are one-hot. Then labels by
    ``decide`` and confidence = posterior of the label.
    """
    n_votes = vote_counts(answers)
    empty = n_votes == 0
    if empty.any():
        posteriors[empty] = 1.0 / answers.n_classes
    posteriors = clamp_gold(posteriors, gold)
    labels = decide(posteriors, seed)
    confidence = np.take_along_axis(posteriors, labels[:, None], axis=1)[:, 0]
    return AggregationResult(
        method=method,
        labels=labels,
        confidence=confidence,
        posteriors=posteriors,
        n_votes=n_votes,
        skills=skills,
        confusion=confusion,
        class_prior=class_prior,
        n_iter=n_iter,
        converged=converged,
        log_likelihood=log_likelihood,
    )


def gold_vector(gold: IntArray | None, n_tasks: int, n_classes: int) -> IntArray | None:
    """Validate an optional (n_tasks,) gold vector: class code, or -1 for unknown."""
    if gold is None:
        return None
    from .errors import DimensionMismatchError, InvalidAnswersError

    g = np.asarray(gold)
    if g.shape != (n_tasks,):
        raise DimensionMismatchError(f"gold must have shape ({n_tasks},), got {g.shape}")
    if g.dtype.kind not in "iu":
        raise InvalidAnswersError(f"gold must hold integer codes, got dtype {g.dtype}")
    g = g.astype(np.int64)
    if g.size and (g.min() < -1 or g.max() >= n_classes):
        raise InvalidAnswersError(f"gold codes must be -1 (unknown) or in [0, {n_classes})")
    return g


def clamp_gold(posteriors: FloatArray, gold: IntArray | None) -> FloatArray:
    """Posteriors with every gold task set to the one-hot of its known label."""
    if gold is None:
        return posteriors
    rows = np.flatnonzero(gold >= 0)
    if rows.size:
        posteriors[rows] = 0.0
        posteriors[rows, gold[rows]] = 1.0
    return posteriors


def check_accuracies(acc: object, n_workers: int) -> FloatArray:
    """Validate a (n_workers,) accuracy vector with values in [0, 1]."""
    from .errors import DimensionMismatchError, InvalidAnswersError

    a = np.asarray(acc, dtype=np.float64)
    if a.shape != (n_workers,):
        raise DimensionMismatchError(f"accuracies must have shape ({n_workers},), got {a.shape}")
    if a.size and (not np.isfinite(a).all() or a.min() < 0.0 or a.max() > 1.0):
        raise InvalidAnswersError("accuracies must be finite and in [0, 1]")
    return a


def check_prior(prior: object, n_classes: int) -> FloatArray:
    """Validate a (K,) class prior: non-negative, positive sum; returned normalised."""
    from .errors import DimensionMismatchError, InvalidAnswersError

    p = np.asarray(prior, dtype=np.float64)
    if p.shape != (n_classes,):
        raise DimensionMismatchError(f"class_prior must have shape ({n_classes},)")
    if not np.isfinite(p).all() or p.min() < 0 or p.sum() <= 0:
        raise InvalidAnswersError("class_prior must be non-negative with a positive sum")
    out: FloatArray = p / p.sum()
    return out


def em_loop(
    init_posteriors: FloatArray,
    m_step: Callable[[FloatArray], P],
    e_step: Callable[[P], tuple[FloatArray, float]],
    max_iter: int,
    tol: float,
    score: Callable[[FloatArray, P], float] | None = None,
) -> tuple[FloatArray, P, int, bool, tuple[float, ...]]:
    """The EM loop shared by one-coin and Dawid-Skene (crowd-kit's order).

    Parameters come from an M-step on ``init_posteriors`` (majority-vote shares); each
    iteration runs an E-step (posteriors and the mean log-likelihood of the current
    parameters) then an M-step. Stops when the log-likelihood gains less than ``tol``
    (mean nats per answer). ``score(posteriors, new_params)``, when given, replaces the
    log-likelihood as the stopping criterion (crowd-kit compatibility). Returns posteriors of the last E-step, last parameters,
    iterations run, whether it converged, and the log-likelihood history.
    """
    params = m_step(init_posteriors)
    posteriors, history, previous = init_posteriors, [], -np.inf
    for _ in range(max_iter):
        posteriors, ll = e_step(params)
        params = m_step(posteriors)
        if score is not None:
            ll = score(posteriors, params)
        history.append(ll)
        if ll - previous < tol:
            return posteriors, params, len(history), True, tuple(history)
        previous = ll
    return posteriors, params, len(history), max_iter == 0, tuple(history)
