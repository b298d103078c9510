"""Name-keyed registry of aggregation methods and the one entry point, ``aggregate``.

``aggregate`` validates its input, supplies worker accuracies to the methods that need
them (wmv, sv, gtx) and clamps gold tasks in every method:

* accuracies given                      -> used as they are (clipped by ACCURACY_EPS);
* no accuracies, gold given             -> estimated from the gold tasks
                                           (``accuracy.estimate_accuracies``: Beta(1,1)
                                           posterior mean, cohort-mean fallback);
* no accuracies, no gold                -> estimated by one-coin EM on the same answers
                                           (its learnt skills), the documented fallback.

Gold tasks (``gold[t] >= 0``) come out with their gold label and confidence 1 whatever
the method; the EM methods also clamp them in every E-step so they inform the M-step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._core import gold_vector
from .accuracy import estimate_accuracies
from .bayes_ds import ibcc
from .dawid_skene import dawid_skene
from .errors import UnknownMethodError
from .gtx import gtx
from .majority import majority_vote
from .one_coin import one_coin_em
from .soft import soft_vote
from .types import AggregationResult, Answers, FloatArray, IntArray
from .weighted import weighted_majority_vote


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its function and what it consumes."""

    name: str
    fn: Callable[..., AggregationResult]
    needs_accuracies: bool  # closed form over known accuracies (wmv, sv, gtx)
    em: bool  # iterative; takes gold (clamped), max_iter, tol
    summary: str


#: The method batch runs use unless told otherwise: Dawid-Skene with its half-answer
#: diagonal prior (docs/aggregation.md: at least crowd-kit's best on every dataset).
DEFAULT_METHOD = "dawid-skene"

METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("mv", majority_vote, False, False, "majority vote"),
        MethodSpec("wmv", weighted_majority_vote, True, False, "accuracy-weighted vote"),
        MethodSpec("sv", soft_vote, True, False, "soft vote"),
        MethodSpec("gtx", gtx, True, False, "one-coin naive Bayes, known accuracies"),
        MethodSpec("one-coin", one_coin_em, False, True, "one-coin EM"),
        MethodSpec("dawid-skene", dawid_skene, False, True, "Dawid-Skene EM (MAP, half an answer on each diagonal)"),
        MethodSpec("ibcc", ibcc, False, True, "Bayesian Dawid-Skene (variational IBCC)"),
    )
}


def get_method(name: str) -> MethodSpec:
    """The registered method called ``name``; ``UnknownMethodError`` otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        known = ", ".join(METHODS)
        raise UnknownMethodError(f"unknown method {name!r}; choose one of: {known}") from None


def resolve_accuracies(
    answers: Answers, accuracies: FloatArray | None, gold: IntArray | None
) -> FloatArray:
    """Accuracies for wmv/sv/gtx by the rule in the module docstring."""
    if accuracies is not None:
        return np.asarray(accuracies, dtype=np.float64)
    if gold is not None and (gold >= 0).any():
        return estimate_accuracies(answers, gold).value
    skills = one_coin_em(answers).skills
    assert skills is not None
    return skills


def empty_result(method: str, answers: Answers) -> AggregationResult:
    """The result for an input with no tasks (early exit, nothing to aggregate)."""
    k = answers.n_classes
    return AggregationResult(
        method=method,
        labels=np.zeros(0, np.int64),
        confidence=np.zeros(0),
        posteriors=np.zeros((0, k)),
        n_votes=np.zeros(0, np.int64),
        skills=np.full(answers.n_workers, np.nan) if answers.n_workers else None,
    )


def aggregate(
    method: str,
    answers: Answers,
    *,
    accuracies: FloatArray | None = None,
    gold: IntArray | None = None,
    seed: int = 0,
    **options: Any,
) -> AggregationResult:
    """Run ``method`` on ``answers``.

    accuracies: (n_workers,) known worker accuracies in [0, 1] (wmv, sv, gtx use them;
                one-coin and dawid-skene use them as priors); see module docstring.
    gold:       (n_tasks,) known label code per task or -1 (clamped in every method).
    seed:       tie-breaking seed (``_core.decide``).
    options:    passed to the method (``max_iter``, ``tol``, ``class_prior``, ...).
    """
    spec = get_method(method)
    g = gold_vector(gold, answers.n_tasks, answers.n_classes)
    if answers.n_tasks == 0:
        return empty_result(spec.name, answers)
    if spec.needs_accuracies:
        acc = resolve_accuracies(answers, accuracies, g)
        result = spec.fn(answers, acc, seed=seed, **options)
    elif spec.em:
        extra = {} if accuracies is None or spec.name == "ibcc" else {"accuracies": accuracies}
        result = spec.fn(answers, gold=g, seed=seed, **extra, **options)
    else:
        result = spec.fn(answers, seed=seed, **options)
    return _clamp_result(result, g, seed) if g is not None else result


def _clamp_result(result: AggregationResult, gold: IntArray, seed: int) -> AggregationResult:
    rows = np.flatnonzero(gold >= 0)
    if rows.size == 0:
        return result
    post = result.posteriors.copy()
    post[rows] = 0.0
    post[rows, gold[rows]] = 1.0
    labels = result.labels.copy()
    labels[rows] = gold[rows]
    conf = result.confidence.copy()
    conf[rows] = 1.0
    return result.replace(posteriors=post, labels=labels, confidence=conf)
