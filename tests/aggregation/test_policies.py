"""Collection policies: live step API and batch helpers."""

from __future__ import annotations

import numpy as np
import pytest

from aggregation.engine import (
    ConfidenceThreshold,
    InvalidAnswersError,
    UncertaintySampling,
    next_worker,
)


def test_it_stops_when_confident() -> None:
    policy = ConfidenceThreshold(tau=0.9, kappa=5, method="gtx")
    first = policy.step(np.array([1]), np.array([0.8]), 2)
    assert not first.done and first.reason == "open" and first.confidence == pytest.approx(0.8)
    second = policy.step(np.array([1, 1]), np.array([0.8, 0.8]), 2)
    assert second.done and second.reason == "confident" and second.label == 1
    assert second.confidence == pytest.approx(0.64 / (0.64 + 0.04))


def test_it_stops_at_kappa_answers() -> None:
    policy = ConfidenceThreshold(tau=0.99, kappa=3, method="mv")
    step = policy.step(np.array([0, 1, 0]), np.full(3, 0.7), 2)
    assert step.done and step.reason == "kappa" and step.label == 0


def test_it_stops_when_no_worker_is_left() -> None:
    policy = ConfidenceThreshold(tau=0.99, kappa=5, method="sv")
    step = policy.step(np.array([0, 1]), np.full(2, 0.7), 2, workers_left=0)
    assert step.done and step.reason == "no_workers"


def test_an_item_with_no_answer_is_never_done() -> None:
    step = ConfidenceThreshold(tau=0.4, kappa=5).step(np.array([], int), np.array([]), 2)
    assert not step.done and step.confidence == 0.5


def test_fixed_labels_per_item_is_a_threshold_above_one() -> None:
    policy = ConfidenceThreshold(tau=1.1, kappa=2, method="mv")
    assert not policy.step(np.array([1]), np.array([0.9]), 2).done
    assert list(policy.is_done(np.array([1.0, 1.0]), np.array([1, 2]))) == [False, True]


def test_it_refuses_kappa_below_one() -> None:
    with pytest.raises(InvalidAnswersError):
        ConfidenceThreshold(tau=0.9, kappa=0)


def test_next_worker_never_picks_one_who_already_answered() -> None:
    rng = np.random.default_rng(0)
    picks = {next_worker(range(5), {0, 2, 4}, rng) for _ in range(50)}
    assert picks == {1, 3}
    assert next_worker(range(3), [0, 1, 2], rng) is None


def test_uncertainty_sampling_labels_every_item_once_first() -> None:
    policy = UncertaintySampling(budget=10)
    post = np.array([[0.5, 0.5], [0.9, 0.1], [0.5, 0.5]])
    n = np.array([1, 1, 0])
    assert policy.next_item(post, n, np.ones(3, bool), spent=2) == 2


def test_uncertainty_sampling_then_takes_the_most_uncertain_item() -> None:
    policy = UncertaintySampling(budget=10)
    post = np.array([[0.9, 0.1], [0.6, 0.4], [0.55, 0.45], [0.55, 0.45]])
    n = np.array([1, 1, 3, 2])
    can = np.ones(4, bool)
    assert policy.next_item(post, n, can, spent=7) == 3  # tie: fewer answers wins
    can[3] = False
    assert policy.next_item(post, n, can, spent=7) == 2
    assert policy.next_item(post, n, can, spent=10) is None
    assert policy.next_item(post, n, np.zeros(4, bool), spent=0) is None


def test_uncertainty_batches_come_from_argpartition() -> None:
    policy = UncertaintySampling(budget=100)
    post = np.array([[0.9, 0.1], [0.6, 0.4], [0.5, 0.5], [0.7, 0.3], [0.99, 0.01]])
    n = np.array([1, 1, 1, 1, 0])
    picked = policy.select(post, n, np.ones(5, bool), k=3)
    assert list(picked) == [4, 2, 1]
