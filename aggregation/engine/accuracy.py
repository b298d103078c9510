"""Worker accuracy from assessment sets (tasks with expert/gold labels).

For worker j with n_j assessed answers of which c_j are correct:

* MLE: c_j / n_j (share correct; NaN when n_j = 0).
* Beta posterior: with a Beta(alpha, beta) prior (default Beta(1, 1), uniform), the
  posterior is Beta(alpha + c_j, beta + n_j - c_j); we report its mean and an
  equal-tailed credible interval (default 95%).
* Fallback for a worker with no assessed answer: the **cohort mean**, i.e. the mean
  posterior-mean accuracy of the assessed workers of the same cohort (all workers form
  one cohort unless ``cohorts`` is given); a cohort with nobody assessed falls back to
  the mean over all assessed workers, and with nobody assessed at all to the prior mean
  alpha / (alpha + beta). Their interval is the prior's interval.
* The accuracies handed to the methods (``value``) are clipped to
  [ACCURACY_EPS, 1 - ACCURACY_EPS] = [0.001, 0.999].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta as beta_dist

from ._core import ACCURACY_EPS, clip_accuracy, gold_vector
from .errors import InvalidAnswersError
from .types import Answers, BoolArray, FloatArray, IntArray


@dataclass(frozen=True, repr=False)
class AccuracyEstimate:
    """Per-worker accuracy, all arrays of shape (n_workers,)."""

    value: FloatArray  # posterior mean (or fallback), clipped: what methods use
    mle: FloatArray  # c / n, NaN without assessed answers
    lower: FloatArray  # credible interval
    upper: FloatArray
    n_assessed: IntArray
    n_correct: IntArray
    fallback: BoolArray  # True where the cohort (or prior) mean stands in

    def __repr__(self) -> str:
        return (
            f"AccuracyEstimate(n_workers={self.value.size}, "
            f"assessed={int((~self.fallback).sum())}, mean={float(self.value.mean()):.4f})"
            if self.value.size
            else "AccuracyEstimate(n_workers=0)"
        )


def count_correct(answers: Answers, gold: IntArray) -> tuple[IntArray, IntArray]:
    """(n_assessed, n_correct) per worker over answers to gold tasks (gold >= 0)."""
    g = gold[answers.tasks]
    on_gold = g >= 0
    w = answers.n_workers
    n = np.bincount(answers.workers[on_gold], minlength=w)
    c = np.bincount(answers.workers[on_gold & (answers.labels == g)], minlength=w)
    return n.astype(np.int64), c.astype(np.int64)


def _cohort_mean(mean: FloatArray, has: BoolArray, cohorts: IntArray, default: float) -> FloatArray:
    overall = float(mean[has].mean()) if has.any() else default
    size = int(cohorts.max()) + 1 if cohorts.size else 0
    total = np.bincount(cohorts[has], weights=mean[has], minlength=size)
    count = np.bincount(cohorts[has], minlength=size)
    by_cohort = np.where(count > 0, total / np.maximum(count, 1), overall)
    out: FloatArray = by_cohort[cohorts] if size else np.full(mean.size, overall)
    return out


def estimate_accuracies(
    answers: Answers,
    gold: IntArray,
    *,
    prior: tuple[float, float] = (1.0, 1.0),
    level: float = 0.95,
    cohorts: IntArray | None = None,
    eps: float = ACCURACY_EPS,
) -> AccuracyEstimate:
    """Accuracy of every worker from their answers to gold tasks.

    ``gold`` (n_tasks,) holds the expert class code or -1; ``cohorts`` (n_workers,)
    optional cohort codes for the fallback; ``prior`` the Beta (alpha, beta)."""
    g = gold_vector(gold, answers.n_tasks, answers.n_classes)
    assert g is not None
    a0, b0 = prior
    if a0 <= 0 or b0 <= 0 or not 0 < level < 1:
        raise InvalidAnswersError("Beta prior parameters must be > 0 and level in (0, 1)")
    coh = (
        np.zeros(answers.n_workers, np.int64) if cohorts is None else np.asarray(cohorts, np.int64)
    )
    if coh.shape != (answers.n_workers,):
        raise InvalidAnswersError(f"cohorts must have shape ({answers.n_workers},)")
    n, c = count_correct(answers, g)
    a_post, b_post = a0 + c, b0 + (n - c)
    mean = a_post / (a_post + b_post)
    has = n > 0
    mean = np.where(has, mean, _cohort_mean(mean, has, coh, a0 / (a0 + b0)))
    tail = (1.0 - level) / 2
    lower = np.where(has, beta_dist.ppf(tail, a_post, b_post), beta_dist.ppf(tail, a0, b0))
    upper = np.where(has, beta_dist.ppf(1 - tail, a_post, b_post), beta_dist.ppf(1 - tail, a0, b0))
    with np.errstate(invalid="ignore", divide="ignore"):
        mle = np.where(has, c / np.maximum(n, 1), np.nan)
    return AccuracyEstimate(
        value=clip_accuracy(mean, eps),
        mle=mle,
        lower=lower,
        upper=upper,
        n_assessed=n,
        n_correct=c,
        fallback=~has,
    )


@dataclass(frozen=True, repr=False)
class BetaSummary:
    """Beta posterior of accuracies, all arrays of shape (n,)."""

    mean: FloatArray  # posterior mean, not clipped
    lower: FloatArray  # equal-tailed credible interval
    upper: FloatArray
    mle: FloatArray  # correct / answered, NaN where nothing was answered

    def __repr__(self) -> str:
        return f"BetaSummary(n={self.mean.size})"


def beta_summary(
    correct: IntArray,
    answered: IntArray,
    prior_mean: FloatArray | float,
    prior_strength: float = 2.0,
    level: float = 0.95,
) -> BetaSummary:
    """Posterior Beta(s·m + c, s·(1 − m) + n − c) of each worker's accuracy.

    ``correct``/``answered`` (n,) counts on golds; ``prior_mean`` m (scalar or (n,)),
    e.g. the cohort mean, with ``prior_strength`` s pseudo-answers (2 with m = 0.5 is
    the uniform Beta(1, 1)). Used live, after every gold answer, by the crowd app.
    """
    c = np.asarray(correct, dtype=np.float64)
    n = np.asarray(answered, dtype=np.float64)
    m = np.broadcast_to(np.asarray(prior_mean, dtype=np.float64), c.shape)
    if np.any(c < 0) or np.any(c > n):
        raise InvalidAnswersError("need 0 <= correct <= answered")
    if prior_strength <= 0 or not 0 < level < 1 or np.any((m <= 0) | (m >= 1)):
        raise InvalidAnswersError("prior mean must lie in (0, 1), strength > 0, level in (0, 1)")
    a, b = prior_strength * m + c, prior_strength * (1.0 - m) + (n - c)
    tail = (1.0 - level) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        mle = np.where(n > 0, c / np.maximum(n, 1), np.nan)
    return BetaSummary(
        mean=a / (a + b),
        lower=np.asarray(beta_dist.ppf(tail, a, b), dtype=np.float64),
        upper=np.asarray(beta_dist.ppf(1 - tail, a, b), dtype=np.float64),
        mle=mle,
    )
