"""Soft vote (SV): a worker of accuracy a gives weight a to the class they answered
and (1 - a) / (K - 1) to each other class, so every vote spreads a total weight of 1.

score[t, k] = sum over the task's votes;  confidence = winning weight / total
(total = number of votes).
"""

from __future__ import annotations

import numpy as np

from ._core import check_accuracies, clip_accuracy, finish, normalize_scores, tally, vote_counts
from .types import AggregationResult, Answers, FloatArray


def soft_vote(answers: Answers, accuracies: FloatArray, *, seed: int = 0) -> AggregationResult:
    """SV with known worker accuracies (n_workers,), clipped by ``ACCURACY_EPS``."""
    acc = clip_accuracy(check_accuracies(accuracies, answers.n_workers))
    k = answers.n_classes
    spread = (1.0 - acc) / max(k - 1, 1)
    # Every vote gives `spread` to all K classes and (a - spread) extra to its own class.
    base = np.bincount(answers.tasks, weights=spread[answers.workers], minlength=answers.n_tasks)
    own = tally(answers, (acc - spread)[answers.workers])
    scores = own + base[:, None]
    if k == 1:
        scores = vote_counts(answers).astype(np.float64)[:, None]
    shares = normalize_scores(scores)
    return finish("sv", shares, answers, seed, skills=acc)
