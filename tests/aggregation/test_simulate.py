"""The simulator: both policies, any method, reproducible reports."""

from __future__ import annotations

import numpy as np
import pytest

from aggregation.engine import InvalidAnswersError, SimulationConfig, simulate
from aggregation.engine.simulate import make_world

SMALL = SimulationConfig(n_items=3000, budget=2000, repetitions=3, seed=1)


def test_it_is_reproducible_from_its_seed() -> None:
    a, b = simulate(SMALL), simulate(SMALL)
    assert a.error_rate == b.error_rate and a.items_labeled == b.items_labeled


def test_workers_are_drawn_without_replacement_and_answer_with_their_accuracy() -> None:
    cfg = SimulationConfig(n_items=20000, n_labelers=5, accuracy_range=(0.6, 0.9))
    w = make_world(cfg, np.random.default_rng(0))
    assert all(len(set(row)) == 5 for row in w.order[:100])
    right = w.answers == w.truth[:, None]
    for j in range(5):
        assert np.mean(right[w.order == j]) == pytest.approx(w.true_acc[j], abs=0.02)
    assert (0.6 <= w.true_acc).all() and (w.true_acc <= 0.9).all()


def test_fixed_labels_per_item_spend_the_budget_exactly() -> None:
    from dataclasses import replace

    rep = simulate(replace(SMALL, method="mv", tau=2.0, kappa=3))
    assert rep.labels_per_item == 3.0 and rep.items_labeled == 2000 // 3


def test_the_threshold_policy_stays_within_budget_and_tau_buys_accuracy() -> None:
    from dataclasses import replace

    loose = simulate(replace(SMALL, tau=0.8, accuracy_range=(0.6, 0.9)))
    tight = simulate(replace(SMALL, tau=0.99, accuracy_range=(0.6, 0.9)))
    for rep in (loose, tight):
        assert (rep.per_rep["labels_used"] <= 2000).all()
    assert tight.labels_per_item > loose.labels_per_item
    assert tight.error_rate < loose.error_rate
    assert tight.items_labeled < loose.items_labeled


def test_uncertainty_sampling_spends_the_budget_and_learns() -> None:
    cfg = SimulationConfig(
        policy="uncertainty",
        n_items=500,
        budget=1500,
        repetitions=2,
        accuracy_range=(0.6, 0.9),
        curve_every=250,
    )
    rep = simulate(cfg)
    assert rep.labels_per_item == 3.0 and rep.items_labeled == 500
    assert rep.curve is not None
    labels, error, mae = rep.curve
    assert labels[0] == 500 and labels[-1] == 1500
    assert error[-1] < error[0] and mae[-1] < mae[0]


@pytest.mark.parametrize("policy", ["threshold", "uncertainty"])
@pytest.mark.parametrize("method", ["one-coin", "dawid-skene"])
def test_it_runs_em_methods_too(policy: str, method: str) -> None:
    cfg = SimulationConfig(
        method=method,
        policy=policy,
        n_items=300,
        budget=600,
        repetitions=1,
        batch_size=100,
        accuracy_range=(0.7, 0.9),
    )
    rep = simulate(cfg)
    assert 0 <= rep.error_rate < 0.3 and rep.labels_used <= 600


def test_estimated_accuracies_come_from_an_assessment_set() -> None:
    cfg = SimulationConfig(n_items=10, budget=15000, accuracies="assessment")
    w = make_world(cfg, np.random.default_rng(0))
    assert not np.allclose(w.used_acc, w.true_acc)
    np.testing.assert_allclose(w.used_acc, w.true_acc, atol=0.1)


def test_it_rejects_an_unknown_policy() -> None:
    from dataclasses import replace

    with pytest.raises(InvalidAnswersError, match="unknown policy"):
        simulate(replace(SMALL, policy="random"))


def test_methods_can_share_worlds() -> None:
    from dataclasses import replace

    from aggregation.engine.simulate import make_worlds

    worlds = make_worlds(SMALL)
    assert simulate(SMALL, worlds).error_rate == simulate(SMALL).error_rate
    sv = simulate(replace(SMALL, method="sv"), worlds)
    assert sv.items_labeled > 0
    with pytest.raises(InvalidAnswersError, match="do not match"):
        simulate(replace(SMALL, n_items=10), worlds)


def test_the_app_s_cohort_prior_trusts_a_perfect_assessment_more_than_a_uniform_prior() -> None:
    from dataclasses import replace

    cfg = SimulationConfig(n_items=100, n_labelers=10, accuracy_range=(0.97, 1.0), budget=3000,
                           accuracies="assessment")  # 30 golds each
    uniform = make_world(cfg, np.random.default_rng(3)).used_acc
    cohort = make_world(replace(cfg, assessment_prior="cohort"), np.random.default_rng(3)).used_acc
    perfect = np.isclose(uniform, 31 / 32)
    assert perfect.any()
    # Beta(2m + 30, 2(1 - m)) with m the others' mean (about 0.96) vs Beta(31, 1).
    assert (cohort[perfect] > 0.99).all() and (cohort > uniform).all()
    with pytest.raises(ValueError, match="assessment_prior"):
        make_world(replace(cfg, assessment_prior="flat"), np.random.default_rng(3))
