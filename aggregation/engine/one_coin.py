"""One-coin EM: each worker has one accuracy s_j, a wrong answer is uniform over the
other K - 1 classes (the GTX likelihood), and s_j, the class prior and the posteriors
are learnt by EM (Dawid & Skene's model with a one-parameter confusion matrix).

Initialised from majority-vote shares. Optional gold labels are clamped (the gold task's
posterior is one-hot in every E-step, so it also drives the M-step); optional known
accuracies act as a Beta prior of strength ``prior_strength`` pseudo-answers:
s_j = (expected correct + strength * a_j) / (answers + strength).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._core import (
    PROB_FLOOR,
    check_accuracies,
    clamp_gold,
    clip_accuracy,
    em_loop,
    finish,
    gold_vector,
    normalize_scores,
    softmax_rows,
    tally,
)
from .gtx import gtx_logits
from .types import AggregationResult, Answers, FloatArray, IntArray


@dataclass(frozen=True)
class OneCoinParams:
    skills: FloatArray  # (n_workers,) accuracy, clipped by ACCURACY_EPS
    class_prior: FloatArray  # (K,)


def m_step(
    answers: Answers,
    posteriors: FloatArray,
    cells: IntArray,
    prior_accuracies: FloatArray | None = None,
    prior_strength: float = 0.0,
    learn_prior: bool = True,
) -> OneCoinParams:
    """Skills = expected share of correct answers; prior = mean posterior."""
    w = answers.n_workers
    correct: FloatArray = np.bincount(
        answers.workers, weights=posteriors.ravel()[cells], minlength=w
    ).astype(np.float64)
    seen: FloatArray = np.bincount(answers.workers, minlength=w).astype(np.float64)
    if prior_accuracies is not None and prior_strength > 0:
        correct = correct + prior_strength * prior_accuracies
        seen = seen + prior_strength
    fallback = correct.sum() / seen.sum() if seen.sum() > 0 else 1.0 / answers.n_classes
    skills = clip_accuracy(np.where(seen > 0, correct / np.maximum(seen, 1e-300), fallback))
    k = answers.n_classes
    prior = np.maximum(posteriors.mean(axis=0), PROB_FLOOR) if learn_prior else np.full(k, 1 / k)
    return OneCoinParams(skills, prior / prior.sum())


def e_step(
    answers: Answers, params: OneCoinParams, cells: IntArray, gold: IntArray | None
) -> tuple[FloatArray, float]:
    """Posteriors (n_tasks, K) and mean per-answer log-likelihood of ``params``."""
    logits, const = gtx_logits(answers, params.skills, params.class_prior, cells)
    posteriors, lse = softmax_rows(logits)
    if gold is not None:
        # A gold task contributes the joint log p(votes, y = gold), not the marginal.
        rows = np.flatnonzero(gold >= 0)
        lse[rows] = logits[rows, gold[rows]]
    ll = float((lse + const).sum()) / max(answers.n_answers, 1)
    return clamp_gold(posteriors, gold), ll


def one_coin_em(
    answers: Answers,
    *,
    gold: IntArray | None = None,
    accuracies: FloatArray | None = None,
    prior_strength: float = 10.0,
    learn_prior: bool = True,
    max_iter: int = 100,
    tol: float = 1e-5,
    seed: int = 0,
) -> AggregationResult:
    """One-coin EM. ``gold`` (n_tasks,) holds a class code or -1; ``accuracies``
    (n_workers,) are prior means used with ``prior_strength`` pseudo-answers."""
    g = gold_vector(gold, answers.n_tasks, answers.n_classes)
    a0 = (
        None
        if accuracies is None
        else clip_accuracy(check_accuracies(accuracies, answers.n_workers))
    )
    cells = answers.cells()
    init = clamp_gold(normalize_scores(tally(answers, None, cells)), g)
    posteriors, params, n_iter, converged, history = em_loop(
        init,
        lambda post: m_step(answers, post, cells, a0, prior_strength, learn_prior),
        lambda prm: e_step(answers, prm, cells, g),
        max_iter,
        tol,
    )
    return finish(
        "one-coin",
        posteriors,
        answers,
        seed,
        g,
        skills=params.skills,
        class_prior=params.class_prior,
        n_iter=n_iter,
        converged=converged,
        log_likelihood=history,
    )
