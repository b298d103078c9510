"""GTX: one-coin naive Bayes with **known** worker accuracies (no M-step).

    P(y | answers) ∝ prior(y) · Π_j a_j^[answer_j = y] · ((1 - a_j) / (K - 1))^[answer_j ≠ y]

computed in log space. The factor Π_j ((1 - a_j)/(K - 1)) is common to all classes, so
the log posterior is log prior(y) plus the sum of the log-odds weights
w_j = log a_j - log((1 - a_j)/(K - 1)) of the votes for y. Equal class prior by default.
"""

from __future__ import annotations

import numpy as np

from ._core import (
    check_accuracies,
    check_prior,
    clip_accuracy,
    finish,
    one_coin_weights,
    softmax_rows,
    tally,
)
from .types import AggregationResult, Answers, FloatArray, IntArray


def gtx_logits(
    answers: Answers,
    accuracies: FloatArray,
    class_prior: FloatArray | None = None,
    cells: IntArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Unnormalised log posterior (n_tasks, K) up to a per-task constant, and the
    per-task constant (n_tasks,) that makes logsumexp(logits) + constant the log
    marginal likelihood of the task's votes."""
    k = answers.n_classes
    log_right, log_wrong = one_coin_weights(accuracies, k)
    logits = tally(answers, (log_right - log_wrong)[answers.workers], cells)
    prior = np.full(k, 1.0 / k) if class_prior is None else class_prior
    logits += np.log(np.maximum(prior, 1e-300))
    const: FloatArray = np.bincount(
        answers.tasks, weights=log_wrong[answers.workers], minlength=answers.n_tasks
    ).astype(np.float64)
    return logits, const


def gtx(
    answers: Answers,
    accuracies: FloatArray,
    *,
    class_prior: FloatArray | None = None,
    seed: int = 0,
) -> AggregationResult:
    """GTX posteriors (n_tasks, K) from accuracies (n_workers,) and an optional prior (K,)."""
    acc = check_accuracies(accuracies, answers.n_workers)
    prior = None if class_prior is None else check_prior(class_prior, answers.n_classes)
    logits, const = gtx_logits(answers, acc, prior)
    posteriors, lse = softmax_rows(logits)
    ll = float((lse + const).sum()) / max(answers.n_answers, 1)
    return finish(
        "gtx",
        posteriors,
        answers,
        seed,
        skills=clip_accuracy(acc),
        class_prior=prior
        if prior is not None
        else np.full(answers.n_classes, 1.0 / answers.n_classes),
        log_likelihood=(ll,),
    )
