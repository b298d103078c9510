"""Metrics: AP, AUC-ROC, F1 and accuracy, their agreement with scikit-learn, and the bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

from modeling.engine.errors import DimensionMismatchError, InvalidLabelError
from modeling.engine.metrics import (
    Estimate,
    accuracy_at,
    average_precision,
    evaluate,
    f1_at,
    roc_auc,
)


@st.composite
def labelled_scores(draw: st.DrawFn, min_size: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Both classes present; scores drawn from a small grid so ties happen often."""
    n = draw(st.integers(min_size, 60))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    grid = draw(st.sampled_from([4, 10, 1000]))
    scores = rng.integers(0, grid, n) / grid
    return labels, scores


@settings(max_examples=60, deadline=None)
@given(labelled_scores())
def test_it_agrees_with_scikit_learn(data: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = data
    assert average_precision(labels, scores) == pytest.approx(
        average_precision_score(labels, scores), abs=1e-12
    )
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    pred = (scores >= 0.5).astype(int)
    assert f1_at(labels, scores, 0.5) == pytest.approx(f1_score(labels, pred), abs=1e-12)
    assert accuracy_at(labels, scores, 0.5) == pytest.approx(accuracy_score(labels, pred))


@settings(max_examples=40, deadline=None)
@given(labelled_scores())
def test_it_gives_auc_roc_as_mann_whitney_u(data: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = data
    pos, neg = scores[labels == 1], scores[labels == 0]
    u = mannwhitneyu(pos, neg).statistic
    assert roc_auc(labels, scores) == pytest.approx(u / (pos.size * neg.size), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 50), st.integers(1, 50), st.integers(0, 2**32 - 1))
def test_it_gives_one_for_a_perfect_ranking(n_pos: int, n_neg: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)])
    scores = labels + rng.uniform(0, 0.9, labels.size)
    assert average_precision(labels, scores) == pytest.approx(1.0)
    assert roc_auc(labels, scores) == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(labelled_scores())
def test_it_is_invariant_to_monotone_transforms(data: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = data
    moved = np.exp(3 * scores) - 7.0  # strictly increasing: ranks and ties unchanged
    assert average_precision(labels, moved) == pytest.approx(average_precision(labels, scores))
    assert roc_auc(labels, moved) == pytest.approx(roc_auc(labels, scores))


@settings(max_examples=30, deadline=None)
@given(labelled_scores(min_size=4))
def test_it_matches_repeated_items_with_integer_weights(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    labels, scores = data
    weights = np.arange(labels.size) % 3 + 1
    rep_l, rep_s = np.repeat(labels, weights), np.repeat(scores, weights)
    w = weights.astype(float)
    assert average_precision(labels, scores, w) == pytest.approx(average_precision(rep_l, rep_s))
    assert roc_auc(labels, scores, w) == pytest.approx(roc_auc(rep_l, rep_s))
    assert f1_at(labels, scores, 0.5, w) == pytest.approx(f1_at(rep_l, rep_s, 0.5))


@settings(max_examples=30, deadline=None)
@given(labelled_scores(min_size=5), st.integers(0, 1000))
def test_it_gives_intervals_that_contain_the_point_estimate(
    data: tuple[np.ndarray, np.ndarray], seed: int
) -> None:
    labels, scores = data
    result = evaluate(labels, scores, 0.5, n_boot=50, rng=np.random.default_rng(seed))
    for est in result.values():
        assert 0.0 <= est.low <= est.value <= est.high <= 1.0


def test_it_narrows_the_interval_as_the_evaluation_set_grows() -> None:
    rng = np.random.default_rng(1)
    widths = []
    for n in (100, 10_000):
        labels = rng.integers(0, 2, n)
        scores = labels * 0.3 + rng.uniform(0, 1, n)
        est = evaluate(labels, scores, 0.5, n_boot=100, rng=rng)["auc_pr"]
        widths.append(est.high - est.low)
    assert widths[1] < widths[0] / 4


def test_it_gives_nan_without_positives_and_zero_f1() -> None:
    labels, scores = np.zeros(5, int), np.linspace(0, 1, 5)
    assert np.isnan(average_precision(labels, scores))
    assert np.isnan(roc_auc(labels, scores))
    assert f1_at(labels, scores, 2.0) == 0.0


def test_it_rejects_bad_inputs() -> None:
    with pytest.raises(InvalidLabelError):
        average_precision(np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(DimensionMismatchError):
        roc_auc(np.array([0, 1, 1]), np.array([0.1, 0.2]))


def test_it_shows_a_readable_estimate() -> None:
    assert "0.5000 ± 0.1000" in repr(Estimate.normal(0.5, 0.1))
