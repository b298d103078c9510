"""Toy fixtures with answers worked out by hand, and real-data checks against crowd-kit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aggregation.engine import Answers, UnknownMethodError, aggregate, decide, encode
from aggregation.engine.dawid_skene import dawid_skene
from aggregation.engine.encoding import read_answers_csv, read_labels_csv

from .conftest import CROWD, make_answers

# Task 0: worker 0 (a = 0.9) says 0; workers 1 and 2 (a = 0.6) say 1.
VOTES = make_answers([(0, 0, 0), (0, 1, 1), (0, 2, 1)])
ACC = np.array([0.9, 0.6, 0.6])


def test_it_takes_the_majority_with_its_share_as_confidence(toy: Answers) -> None:
    res = aggregate("mv", toy)
    assert res.labels[0] == 1 and res.confidence[0] == pytest.approx(2 / 3)
    assert res.confidence[1] == 0.5 and res.labels[2] == 1 and res.confidence[2] == 1.0
    assert res.skills is None


def test_it_breaks_ties_by_a_seeded_hash_that_is_unbiased_and_reproducible() -> None:
    n = 2000
    tied = np.full((n, 2), 0.5)
    first = decide(tied, seed=7)
    assert np.array_equal(first, decide(tied, seed=7))
    assert 0.45 < first.mean() < 0.55  # neither class favoured
    assert not np.array_equal(first, decide(tied, seed=8))
    # A task's outcome depends on its code and the seed only, not on the other rows.
    assert decide(tied[:1], seed=7, task_codes=np.array([1234]))[0] == first[1234]
    # Only tied classes can win.
    three = np.tile([0.4, 0.4, 0.2], (n, 1))
    assert set(decide(three, seed=1).tolist()) == {0, 1}


def test_it_weighs_votes_by_accuracy() -> None:
    res = aggregate("wmv", VOTES, accuracies=ACC)
    assert res.labels[0] == 1 and res.confidence[0] == pytest.approx(1.2 / 2.1)


def test_it_soft_votes() -> None:
    # class 0: 0.9 + 0.4 + 0.4 = 1.7; class 1: 0.1 + 0.6 + 0.6 = 1.3; total 3 votes.
    res = aggregate("sv", VOTES, accuracies=ACC)
    assert res.labels[0] == 0 and res.confidence[0] == pytest.approx(1.7 / 3)


def test_it_soft_votes_over_three_classes() -> None:
    answers = make_answers([(0, 0, 0), (0, 1, 2)], n_classes=3)
    res = aggregate("sv", answers, accuracies=np.array([0.7, 0.9]))
    # class 0: .7 + .05; class 1: .15 + .05; class 2: .15 + .9
    np.testing.assert_allclose(res.posteriors[0], [0.75 / 2, 0.2 / 2, 1.05 / 2])


def test_it_computes_gtx_log_odds() -> None:
    res = aggregate("gtx", VOTES, accuracies=ACC)
    log_odds = math.log(9) - 2 * math.log(1.5)
    assert res.labels[0] == 0
    assert res.confidence[0] == pytest.approx(1 / (1 + math.exp(-log_odds)))


def test_it_rejects_an_unknown_method(toy: Answers) -> None:
    with pytest.raises(UnknownMethodError, match="choose one of: mv, wmv"):
        aggregate("wawa", toy)


def test_it_estimates_accuracies_from_gold_when_none_are_given() -> None:
    # Worker 0 is always right on the gold tasks 1..4, worker 1 always wrong.
    rows = [(0, 0, 0), (0, 1, 1)]
    rows += [(t, 0, 1) for t in range(1, 5)] + [(t, 1, 0) for t in range(1, 5)]
    gold = np.array([-1, 1, 1, 1, 1])
    res = aggregate("gtx", make_answers(rows), gold=gold)
    assert res.labels[0] == 0
    assert res.skills is not None
    assert res.skills[0] > 0.8 and res.skills[1] < 0.2


def test_one_coin_em_recovers_worker_accuracies() -> None:
    rng = np.random.default_rng(0)
    acc = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.55])
    truth = rng.integers(0, 2, 3000)
    t = np.repeat(np.arange(3000), 6)
    w = np.tile(np.arange(6), 3000)
    y = np.where(rng.random(t.size) < acc[w], truth[t], 1 - truth[t])
    answers = Answers.from_arrays(t, w, y)
    for method in ("one-coin", "dawid-skene", "ibcc"):
        res = aggregate(method, answers)
        assert res.skills is not None and res.converged
        np.testing.assert_allclose(res.skills, acc, atol=0.03)
        assert np.mean(res.labels == truth) > 0.95


def _load(name: str) -> tuple[Answers, np.ndarray]:
    gold_labels = read_labels_csv(CROWD / name / "gold.csv")
    enc = read_answers_csv(CROWD / name / "answers.csv", classes=set(gold_labels.values()))
    return enc.answers, enc.gold_vector(gold_labels)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("bluebirds", 96), ("rte", 742), ("d_possent", 960)],
)
def test_dawid_skene_reproduces_crowd_kit_with_its_stopping_rule(name: str, expected: int) -> None:
    """crowd-kit 1.4.2 DawidSkene: .8889 bluebirds, .9275 rte, .9600 d_possent."""
    answers, gold = _load(name)
    res = dawid_skene(answers, stopping="crowdkit", diagonal_prior=0.0)
    known = gold >= 0
    assert int((res.labels[known] == gold[known]).sum()) == expected


def test_dawid_skene_on_bluebirds_is_at_least_crowd_kit() -> None:
    answers, gold = _load("bluebirds")
    res = aggregate("dawid-skene", answers)
    assert np.mean(res.labels == gold) >= 96 / 108


def test_encoding_round_trip_on_real_data() -> None:
    enc = read_answers_csv(CROWD / "face" / "answers.csv")
    assert enc.classes == ("0", "1", "2", "3")
    assert enc.answers.n_tasks == 584 and enc.answers.n_answers == 5242
    again = encode(
        (enc.task_ids[t], enc.worker_ids[w], enc.classes[y])
        for t, w, y in zip(enc.answers.tasks, enc.answers.workers, enc.answers.labels)
    )
    np.testing.assert_array_equal(again.answers.labels, enc.answers.labels)


def test_the_default_method_is_dawid_skene_with_half_an_answer_on_each_diagonal() -> None:
    from aggregation.engine import DEFAULT_METHOD, METHODS

    assert DEFAULT_METHOD in METHODS and DEFAULT_METHOD == "dawid-skene"
    # Two reliable workers answer every task; worker 2 answers one task, against them.
    rows = [(t, w, t % 2) for t in range(20) for w in (0, 1)] + [(0, 2, 1)]
    answers = make_answers(rows)
    ml = dawid_skene(answers, diagonal_prior=0.0)
    default = aggregate(DEFAULT_METHOD, answers)
    # Maximum likelihood learns from one answer that worker 2 is always wrong about class 0
    # and never says 0; the prior keeps half an answer of "right" on both diagonals.
    assert ml.confusion is not None and default.confusion is not None
    assert ml.confusion[2, 0, 0] < 1e-6
    assert default.confusion[2, 0, 0] == pytest.approx(0.5 / 1.5, abs=0.02)
    assert default.confusion[2, 1, 1] == pytest.approx(1.0, abs=1e-6)  # never seen a true 1: prior only
    assert (default.labels == ml.labels).all()


def test_map_dawid_skene_never_lowers_its_log_posterior() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 300)
    rows = [(t, w, int(truth[t] if rng.random() < 0.7 + 0.05 * (w % 5) else 1 - truth[t]))
            for t in range(300) for w in rng.choice(40, 3, replace=False)]
    history = dawid_skene(make_answers(rows), max_iter=40, tol=-1.0).log_likelihood
    assert len(history) == 40 and all(b >= a - 1e-9 for a, b in zip(history, history[1:], strict=False))
