"""Collection policies: when to ask another worker, and which item to ask about.

Both work one answer at a time (live: the Django glue calls them after each answer)
and in batch (the simulator calls the vectorised helpers on all open items at once).

Confidence threshold (tau, kappa)
    After each answer to an item, aggregate its answers; the item is done when the
    confidence of its label reaches ``tau`` or it holds ``kappa`` answers. Otherwise ask
    another worker, never one who already answered that item. ``tau > 1`` gives a fixed
    ``kappa`` answers per item (MV/WMV with 1..5 labels in the GTX study).

Uncertainty sampling (budget B)
    Every item gets one label first; after that each label goes to the item whose
    aggregate uncertainty ``1 - max posterior`` is largest (ties, within 1e-9: fewer
    answers first, then the lower item index), skipping items every worker has already answered,
    until B labels are spent.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from ._core import decide
from .additive import initial_scores, posteriors_from_scores, vote_increments
from .errors import AggregationError, InvalidAnswersError
from .types import BoolArray, FloatArray, IntArray


@dataclass(frozen=True)
class StepDecision:
    """Outcome of one live step for one item."""

    done: bool
    reason: str  # "confident", "kappa", "no_workers" or "open"
    label: int
    confidence: float
    posterior: FloatArray  # (K,)


def least_confidence(posteriors: FloatArray) -> FloatArray:
    """Uncertainty score 1 - max posterior, shape (n,) from (n, K)."""
    out: FloatArray = 1.0 - posteriors.max(axis=-1)
    return out


def uncertainty_key(posteriors: FloatArray, n_answers: IntArray) -> FloatArray:
    """Selection key (...,) for uncertainty sampling: 1 - max posterior, less 1e-9 per
    answer already held, so that among (numerically) equally uncertain items the one
    with fewer answers wins and ``argmax`` then takes the lowest index."""
    out: FloatArray = least_confidence(posteriors) - 1e-9 * np.asarray(n_answers)
    return out


def next_worker(
    candidates: Collection[int], answered: Collection[int], rng: np.random.Generator
) -> int | None:
    """A uniformly random candidate who has not answered the item yet, or None."""
    seen = set(answered)
    free = [c for c in candidates if c not in seen]
    return int(free[rng.integers(len(free))]) if free else None


@dataclass(frozen=True)
class ConfidenceThreshold:
    """Ask until confidence >= tau or kappa answers; ``method`` in mv/wmv/sv/gtx."""

    tau: float
    kappa: int
    method: str = "gtx"

    def __post_init__(self) -> None:
        if self.kappa < 1:
            raise InvalidAnswersError("kappa must be >= 1")

    def is_done(self, confidence: FloatArray, n_answers: IntArray) -> BoolArray:
        """Vectorised stop rule over items: (n,) confidences and answer counts."""
        out: BoolArray = (np.asarray(confidence) >= self.tau) | (
            np.asarray(n_answers) >= self.kappa
        )
        return out

    def step(
        self,
        labels: IntArray,
        accuracies: FloatArray,
        n_classes: int,
        *,
        task_code: int = 0,
        seed: int = 0,
        workers_left: int | None = None,
    ) -> StepDecision:
        """Decide for one item from its answers so far: ``labels`` (m,) class codes and
        ``accuracies`` (m,) of the workers who gave them. ``workers_left`` (if known) is
        how many workers could still be asked."""
        labels = np.asarray(labels, dtype=np.int64)
        inc = vote_increments(self.method, labels, np.asarray(accuracies, float), n_classes)
        scores = initial_scores(self.method, (), n_classes) + inc.sum(axis=0)
        post = posteriors_from_scores(self.method, scores[None])[0]
        label = int(decide(post[None], seed, np.array([task_code]))[0])
        conf = float(post[label])
        if labels.size and conf >= self.tau:
            reason = "confident"
        elif labels.size >= self.kappa:
            reason = "kappa"
        elif workers_left == 0:
            reason = "no_workers"
        else:
            reason = "open"
        return StepDecision(reason != "open", reason, label, conf, post)


@dataclass(frozen=True)
class UncertaintySampling:
    """Label the most uncertain item next, after one label for every item."""

    budget: int

    def next_item(
        self, posteriors: FloatArray, n_answers: IntArray, can_ask: BoolArray, spent: int
    ) -> int | None:
        """Index of the item to label next, or None when the budget is spent or no
        item can take another answer. Shapes: (n, K), (n,), (n,)."""
        if spent >= self.budget or not np.any(can_ask):
            return None
        fresh = np.flatnonzero(can_ask & (np.asarray(n_answers) == 0))
        if fresh.size:
            return int(fresh[0])
        key = np.where(can_ask, uncertainty_key(posteriors, n_answers), -np.inf)
        return int(np.argmax(key))

    def select(
        self, posteriors: FloatArray, n_answers: IntArray, can_ask: BoolArray, k: int
    ) -> IntArray:
        """Up to ``k`` items for a batch round: unlabelled ones first, then the most
        uncertain (``argpartition``, no full sort)."""
        if k <= 0:
            raise AggregationError("batch size must be positive")
        score = np.where(can_ask, least_confidence(posteriors), -np.inf)
        score = np.where(can_ask & (np.asarray(n_answers) == 0), 2.0, score)
        k = min(k, int(np.count_nonzero(can_ask)))
        if k == 0:
            return np.zeros(0, np.int64)
        top = np.argpartition(-score, k - 1)[:k]
        return top[np.argsort(-score[top], kind="stable")].astype(np.int64)
