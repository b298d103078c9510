"""Worker accuracy from assessment sets."""

from __future__ import annotations

import numpy as np
import pytest

from aggregation.engine import ACCURACY_EPS, estimate_accuracies

from .conftest import make_answers


def _answers():  # type: ignore[no-untyped-def]
    # Gold tasks 0..3 (label 1). Worker 0: 4/4 right; worker 1: 1/4; worker 2 only
    # answers the non-gold task 4; worker 3 answers 2 gold tasks, both right.
    rows = [(t, 0, 1) for t in range(4)]
    rows += [(0, 1, 1), (1, 1, 0), (2, 1, 0), (3, 1, 0), (4, 2, 0), (0, 3, 1), (1, 3, 1)]
    return make_answers(rows), np.array([1, 1, 1, 1, -1])


def test_it_reports_the_share_correct_and_a_beta_posterior() -> None:
    answers, gold = _answers()
    est = estimate_accuracies(answers, gold)
    assert est.mle[0] == 1.0 and est.mle[1] == 0.25 and np.isnan(est.mle[2])
    assert list(est.n_assessed) == [4, 4, 0, 2] and list(est.n_correct) == [4, 1, 0, 2]
    assert est.value[0] == pytest.approx(5 / 6) and est.value[1] == pytest.approx(2 / 6)
    assert (est.lower <= est.value).all() and (est.value <= est.upper).all()
    assert est.upper[3] - est.lower[3] > est.upper[0] - est.lower[0]  # fewer answers: wider


def test_a_worker_without_assessed_answers_gets_the_cohort_mean() -> None:
    answers, gold = _answers()
    est = estimate_accuracies(answers, gold)
    assert list(est.fallback) == [False, False, True, False]
    assert est.value[2] == pytest.approx(np.mean([5 / 6, 2 / 6, 3 / 4]))
    by_cohort = estimate_accuracies(answers, gold, cohorts=np.array([0, 1, 0, 1]))
    assert by_cohort.value[2] == pytest.approx(5 / 6)


def test_with_nobody_assessed_it_falls_back_to_the_prior_mean() -> None:
    answers, _ = _answers()
    est = estimate_accuracies(answers, np.full(5, -1), prior=(3.0, 1.0))
    np.testing.assert_allclose(est.value, 0.75)
    assert est.fallback.all()


def test_it_clips_accuracies_away_from_zero_and_one() -> None:
    answers, gold = _answers()
    est = estimate_accuracies(answers, gold, prior=(1e-6, 1e-6))
    assert est.value.max() == 1 - ACCURACY_EPS and est.value[1] == pytest.approx(0.25, abs=1e-5)
    assert ACCURACY_EPS == 1e-3
