"""Metrics from crowd posteriors on the evaluation sample: expected counts, the stratum's
prior, and intervals that carry the labels' uncertainty."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling.engine.errors import DimensionMismatchError, InvalidLabelError
from modeling.engine.posterior_eval import (
    expected_confusion,
    posterior_estimate,
    posterior_rows,
    stratum_prior_posteriors,
)
from modeling.engine.sampler import strata_of, stratified_sample, weighted_estimate

METRICS = ("precision", "recall", "f1", "accuracy", "auc_pr", "auc_roc")


def _keys(n: int, prefix: str = "item") -> list[str]:
    return [f"{prefix}/{i:05d}.jpg" for i in range(n)]


def _population(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.beta(0.7, 3.0, n)
    labels = (rng.uniform(0, 1, n) < 0.05 + 0.9 * scores**2).astype(np.int64)
    return scores, labels


def _one_coin_log_odds(truth: np.ndarray, accuracy: np.ndarray, answers: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Equal-prior log-odds of "yes" from ``answers`` one-coin workers per item, drawn from
    the workers of ``accuracy`` (known to the aggregator, as GTX assumes)."""
    workers = rng.integers(0, accuracy.size, size=(truth.size, answers))
    right = rng.random(workers.shape) < accuracy[workers]
    said_yes = np.where(right, truth[:, None] == 1, truth[:, None] == 0)
    weight = np.log(accuracy[workers]) - np.log1p(-accuracy[workers])
    return np.sum(np.where(said_yes, weight, -weight), axis=1)


@pytest.mark.parametrize("prior", ["stratum", "as-given"])
def test_with_posteriors_of_0_and_1_it_is_the_hard_label_estimator(prior: str) -> None:
    scores, labels = _population(3000, seed=7)
    sample = stratified_sample(_keys(3000), {"m": scores, "other": 1.0 - scores}, k=20)
    y = labels[sample.indices].copy()
    y[::7] = -1  # some items not labelled yet
    p = np.where(y < 0, np.nan, y.astype(np.float64))
    hard = weighted_estimate(sample, "m", scores, y, n_boot=100, rng=np.random.default_rng(1))
    soft = posterior_estimate(sample, "m", scores, p, prior=prior, n_boot=100, rng=np.random.default_rng(1))
    for name in METRICS:
        assert soft[name] == hard[name], name  # values, standard errors and intervals alike


def test_noisy_posteriors_widen_the_interval_and_certain_ones_do_not() -> None:
    scores, labels = _population(3000, seed=11)
    sample = stratified_sample(_keys(3000), {"m": scores}, k=20)
    y = labels[sample.indices]
    rng = np.random.default_rng(3)
    noisy = np.clip(np.where(y == 1, 0.8, 0.2) + rng.uniform(-0.15, 0.15, y.size), 0.0, 1.0)
    for p, wider in ((y.astype(np.float64), False), (noisy, True)):
        with_labels = posterior_estimate(sample, "m", scores, p, prior="as-given", rng=np.random.default_rng(0))
        without = posterior_estimate(sample, "m", scores, p, prior="as-given", label_noise=False,
                                     rng=np.random.default_rng(0))
        for name in METRICS:
            assert with_labels[name].value == pytest.approx(without[name].value), name
            if wider:
                assert with_labels[name].se > 1.05 * without[name].se, name
            else:
                assert with_labels[name].se == pytest.approx(without[name].se), name


@settings(max_examples=12, deadline=None)
@given(n=st.integers(300, 900), low=st.floats(0.55, 0.8), spread=st.floats(0.0, 0.2),
       answers=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_expected_counts_are_unbiased_under_the_one_coin_model(n: int, low: float, spread: float, answers: int,
                                                              seed: int) -> None:
    """Posteriors from known one-coin accuracies under each stratum's true prevalence are
    calibrated; the expected confusion counts are then unbiased for the pool's counts."""
    rng = np.random.default_rng(seed)
    scores = rng.beta(0.7, 2.0, n)
    truth = (rng.random(n) < 0.03 + 0.9 * scores**2).astype(np.int64)
    strata = strata_of(scores)
    prevalence = np.bincount(strata, weights=truth, minlength=10) / np.maximum(np.bincount(strata, minlength=10), 1)
    prior_odds = np.log(np.clip(prevalence, 1e-12, 1)) - np.log(np.clip(1 - prevalence, 1e-12, 1))
    accuracy = rng.uniform(low, min(low + spread, 0.95), size=20)
    pred = scores >= 0.5
    exact = {"tp": np.sum(pred & (truth == 1)), "fp": np.sum(pred & (truth == 0)),
             "fn": np.sum(~pred & (truth == 1)), "tn": np.sum(~pred & (truth == 0))}
    draws = []
    for rep in range(120):
        sample = stratified_sample(_keys(n, f"r{rep}"), {"m": scores}, k=8)
        items = sample.indices
        log_odds = _one_coin_log_odds(truth[items], accuracy, answers, rng) + prior_odds[strata[items]]
        p = 1.0 / (1.0 + np.exp(-log_odds))
        draws.append(expected_confusion(posterior_rows(sample, "m", scores, p, prior="as-given")))
    for name, value in exact.items():
        got = np.array([d[name] for d in draws])
        se = got.std(ddof=1) / np.sqrt(got.size)
        assert abs(got.mean() - value) <= 4 * se + 1e-9, (name, got.mean(), value, se)


def test_the_stratum_prior_removes_the_equal_priors_phantom_positives() -> None:
    """A low stratum of thousands of negatives answered "no" at P(yes) = .05 under the
    equal prior: as given, the phantoms swamp recall; under the stratum's prior, recall is
    close to the truth."""
    scores, labels = _population(6000, seed=5)
    pred = scores >= 0.5
    true_recall = np.sum(pred & (labels == 1)) / np.sum(labels == 1)
    rng = np.random.default_rng(0)
    accuracy = rng.uniform(0.8, 1.0, size=20)
    errors: dict[str, list[float]] = {"stratum": [], "as-given": []}
    for rep in range(30):
        sample = stratified_sample(_keys(6000, f"p{rep}"), {"m": scores}, k=20)
        log_odds = _one_coin_log_odds(labels[sample.indices], np.clip(accuracy, None, 0.97), 2, rng)
        p = 1.0 / (1.0 + np.exp(-log_odds))
        for prior in errors:
            est = posterior_estimate(sample, "m", scores, p, prior=prior, n_boot=0)
            errors[prior].append(est["recall"].value - true_recall)
    assert abs(np.mean(errors["stratum"])) < 0.05
    assert np.mean(errors["as-given"]) < np.mean(errors["stratum"]) - 0.05


def test_the_stratum_prior_keeps_certain_posteriors_and_moves_unsure_ones() -> None:
    strata = np.array([0, 0, 0, 0, 1, 1])
    p = np.array([0.0, 0.05, 0.05, 1.0, 0.9, 0.6])
    out = stratum_prior_posteriors(p, strata)
    assert out[0] == 0.0 and out[3] == 1.0
    assert out[1] < 0.05  # a stratum mostly "no" makes an unsure "no" surer


def test_it_names_bad_posteriors() -> None:
    scores, _ = _population(200, seed=1)
    sample = stratified_sample(_keys(200), {"m": scores}, k=3)
    with pytest.raises(InvalidLabelError, match=r"\[0, 1\]"):
        posterior_estimate(sample, "m", scores, np.full(sample.indices.size, 1.5))
    with pytest.raises(DimensionMismatchError, match="align"):
        posterior_estimate(sample, "m", scores, np.full(sample.indices.size + 1, 0.5))
    with pytest.raises(ValueError, match="prior"):
        posterior_estimate(sample, "m", scores, np.full(sample.indices.size, 0.5), prior="flat")
