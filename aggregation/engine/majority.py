"""Majority vote (MV): each vote counts 1.

confidence = share of the task's votes that went to the winner; ties are broken by the
seeded rule of ``_core.decide`` (uniformly random among tied classes, reproducible).
"""

from __future__ import annotations

from ._core import finish, normalize_scores, tally
from .types import AggregationResult, Answers


def majority_vote(answers: Answers, *, seed: int = 0) -> AggregationResult:
    """MV over (tasks, workers, labels); posteriors are vote shares, shape (n_tasks, K)."""
    shares = normalize_scores(tally(answers))
    return finish("mv", shares, answers, seed)
