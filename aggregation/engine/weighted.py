"""Weighted majority vote (WMV): each vote weighs the worker's accuracy a_j.

score[t, k] = sum of a_j over the votes for k;  confidence = winning weight / total.
"""

from __future__ import annotations

from ._core import check_accuracies, clip_accuracy, finish, normalize_scores, tally
from .types import AggregationResult, Answers, FloatArray


def weighted_majority_vote(
    answers: Answers, accuracies: FloatArray, *, seed: int = 0
) -> AggregationResult:
    """WMV with known worker accuracies (n_workers,), clipped by ``ACCURACY_EPS``."""
    acc = clip_accuracy(check_accuracies(accuracies, answers.n_workers))
    shares = normalize_scores(tally(answers, acc[answers.workers]))
    return finish("wmv", shares, answers, seed, skills=acc)
