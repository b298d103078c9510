"""Contract every registered method meets (STYLE.md): empty input, one worker,
unanimous answers, permutation invariance, posteriors, gold clamping."""

from __future__ import annotations

import numpy as np
import pytest

from aggregation.engine import METHODS, AggregationResult, Answers, aggregate

from .conftest import make_answers

ALL = sorted(METHODS)


def _check_shapes(res: AggregationResult, answers: Answers) -> None:
    n, k = answers.n_tasks, answers.n_classes
    assert res.labels.shape == (n,) and res.confidence.shape == (n,)
    assert res.posteriors.shape == (n, k)
    np.testing.assert_allclose(res.posteriors.sum(axis=1), 1.0, atol=1e-9)
    assert (res.posteriors >= 0).all()
    np.testing.assert_allclose(res.confidence, res.posteriors[np.arange(n), res.labels])
    np.testing.assert_allclose(res.confidence, res.posteriors.max(axis=1))


@pytest.mark.parametrize("method", ALL)
def test_it_returns_an_empty_result_for_no_tasks(method: str) -> None:
    res = aggregate(method, Answers.from_arrays([], [], [], n_classes=2))
    assert res.labels.size == 0 and res.posteriors.shape == (0, 2)


@pytest.mark.parametrize("method", ALL)
def test_it_gives_tasks_without_votes_a_uniform_posterior(method: str) -> None:
    answers = make_answers([(0, 0, 1), (0, 1, 1), (2, 0, 0)], n_tasks=4, n_classes=3)
    res = aggregate(method, answers)
    _check_shapes(res, answers)
    for task in (1, 3):
        np.testing.assert_allclose(res.posteriors[task], 1 / 3)
    assert list(res.n_votes) == [2, 0, 1, 0]


@pytest.mark.parametrize("method", ALL)
def test_it_handles_tasks_with_no_votes_at_all(method: str) -> None:
    answers = Answers.from_arrays([], [], [], n_tasks=3, n_workers=2, n_classes=2)
    res = aggregate(method, answers)
    np.testing.assert_allclose(res.posteriors, 0.5)


@pytest.mark.parametrize("method", ALL)
def test_it_follows_a_single_worker(method: str) -> None:
    answers = make_answers([(t, 0, y) for t, y in enumerate([0, 1, 1, 0, 2, 1])])
    res = aggregate(method, answers)
    _check_shapes(res, answers)
    assert list(res.labels) == [0, 1, 1, 0, 2, 1]


@pytest.mark.parametrize("method", ALL)
def test_it_returns_the_label_of_unanimous_answers(method: str) -> None:
    answers = make_answers([(t, w, 2) for t in range(5) for w in range(4)], n_classes=3)
    res = aggregate(method, answers)
    assert (res.labels == 2).all()
    assert (res.confidence > 1 / 3).all()


@pytest.mark.parametrize("method", ALL)
def test_it_is_invariant_to_answer_order_and_worker_names(method: str) -> None:
    rng = np.random.default_rng(3)
    t = rng.integers(0, 30, 200)
    w = rng.integers(0, 12, 200)
    y = rng.integers(0, 3, 200)
    base = aggregate(method, Answers.from_arrays(t, w, y, n_tasks=30, n_workers=12))
    perm = rng.permutation(200)
    rename = rng.permutation(12)
    other = aggregate(
        method, Answers.from_arrays(t[perm], rename[w[perm]], y[perm], n_tasks=30, n_workers=12)
    )
    np.testing.assert_allclose(other.posteriors, base.posteriors, atol=1e-8)
    np.testing.assert_array_equal(other.labels, base.labels)


@pytest.mark.parametrize("method", ALL)
def test_it_clamps_gold_tasks(method: str, toy: Answers) -> None:
    gold = np.array([0, -1, -1, 1])
    res = aggregate(method, toy, gold=gold)
    assert res.labels[0] == 0 and res.labels[3] == 1
    assert res.confidence[0] == 1.0 and res.confidence[3] == 1.0
    _check_shapes(res, toy)


@pytest.mark.parametrize("method", ALL)
def test_it_has_a_readable_repr(method: str, toy: Answers) -> None:
    text = repr(aggregate(method, toy))
    assert text.startswith("AggregationResult(") and method in text and "array" not in text
