"""The simulated loop on a small synthetic pool: structure, no item rated twice, raters."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modeling.engine.errors import InvalidLabelError
from modeling.engine.simulation import (
    Arm,
    ConceptVectors,
    EvaluationArrays,
    LabelRater,
    PoolArrays,
    Simulation,
    SimulationConfig,
    compare_arms,
    phrases_from_classes,
    run_simulation,
)
from modeling.engine.trainer import initial_config, later_config
from modeling.engine.zero_shot import Calibration

N_CLUSTERS, DIM = 4, 16


def _clustered(
    n: int, rng: np.random.Generator, centres: np.ndarray
) -> tuple[PoolArrays, np.ndarray]:
    """Items around 4 unit centres: vectors (n, 16) unit rows, features (n, 24), cluster ids."""
    cluster = rng.integers(0, N_CLUSTERS, n)
    vectors = centres[cluster] + 0.35 * rng.normal(size=(n, DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    features = np.c_[vectors, rng.normal(size=(n, 8))].astype(np.float32)
    return PoolArrays(vectors.astype(np.float32), features), cluster


@pytest.fixture(scope="module")
def world() -> dict[str, object]:
    rng = np.random.default_rng(0)
    centres = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0][:N_CLUSTERS]
    pool, pool_cluster = _clustered(400, rng, centres)
    evaluation, eval_cluster = _clustered(200, rng, centres)
    return {
        "centres": centres.astype(np.float32),
        "pool": pool,
        "truth": pool_cluster == 0,
        "evaluation": EvaluationArrays(evaluation, (eval_cluster == 0).astype(np.int64)),
    }


def _config(**changes: object) -> SimulationConfig:
    # Small trainer settings keep this test at a second; the loop's logic is the same.
    fast = {"epochs": 3, "random_negatives": 512, "batch_size": 64}
    base = SimulationConfig(
        strategy="margin",
        rounds=2,
        batch=20,
        seed=0,
        per_phrase=60,
        expansion_sample=40,
        n_boot=20,
        initial=initial_config(**fast),
        later=later_config(**fast),
    )
    return SimulationConfig(**{**base.__dict__, **changes})


def _run(world: dict[str, object], rater: LabelRater, **changes: object):  # type: ignore[no-untyped-def]
    centres = world["centres"]
    concept = ConceptVectors(centres[:1], np.zeros((0, DIM), np.float32))  # type: ignore[index]
    return run_simulation(
        world["pool"],
        world["evaluation"],
        concept,
        rater,  # type: ignore[arg-type]
        Calibration(0.3, 0.1, "test"),
        _config(**changes),
    )


def test_it_runs_expansion_then_rounds_and_never_asks_twice(world: dict[str, object]) -> None:
    rater = LabelRater(world["truth"])  # type: ignore[arg-type]
    result = _run(world, rater)
    assert [r.round for r in result.rounds] == [0, 1, 2]
    assert [r.labels for r in result.rounds] == [40, 60, 80]
    # Below 200 labels cross-validation only weighs linear heads (see Training).
    assert [r.model for r in result.rounds] == ["linear", "linear", "linear"]
    assert len(rater.asked) == len(set(rater.asked)) == 80
    assert result.rated.tolist() == rater.asked
    assert (result.answers == np.asarray(world["truth"])[result.rated]).all()  # type: ignore[call-overload]
    for metrics in [result.zero_shot, *(r.metrics for r in result.rounds)]:
        assert set(metrics) == {"auc_pr", "auc_roc", "f1", "accuracy"}
        for est in metrics.values():
            assert 0 <= est.low <= est.value <= est.high <= 1
    # Clusters are well separated: the zero-shot concept and every model rank well.
    assert result.zero_shot["auc_pr"].value > 0.9
    assert result.rounds[-1].metrics["auc_pr"].value > 0.8


def test_it_prints_the_documented_json(world: dict[str, object]) -> None:
    result = _run(world, LabelRater(world["truth"]), rounds=1)  # type: ignore[arg-type]
    data = json.loads(json.dumps(result.to_json()))
    assert set(data) == {"zero_shot", "rounds"}
    assert set(data["zero_shot"]) == {"auc_pr", "auc_roc", "f1", "accuracy"}
    assert data["rounds"][0].keys() == {"round", "labels", "auc_pr", "auc_roc", "f1", "accuracy"}
    assert [r["labels"] for r in data["rounds"]] == [40, 60]


def test_it_falls_back_to_zero_shot_until_a_positive_is_rated(world: dict[str, object]) -> None:
    never = LabelRater(np.zeros_like(world["truth"]))  # type: ignore[arg-type]
    result = _run(world, never, strategy="random", rounds=1)
    assert [r.model for r in result.rounds] == ["zero-shot", "zero-shot"]
    assert result.rounds[1].metrics["auc_pr"] == result.zero_shot["auc_pr"]
    assert len(set(never.asked)) == 60


def test_it_simulates_a_noisy_crowd_rater() -> None:
    truth = np.arange(20_000) % 2 == 0
    noisy = LabelRater(truth, error_rate=0.2, rng=np.random.default_rng(1))
    answers = noisy(np.arange(20_000))
    assert np.mean(answers != truth) == pytest.approx(0.2, abs=0.01)
    assert "error_rate=0.2" in repr(noisy)


def test_it_turns_class_names_into_phrases() -> None:
    assert phrases_from_classes(["lost_or_stolen_card", "cat"]) == ["lost or stolen card", "cat"]


def test_it_rejects_a_rater_that_answers_badly(world: dict[str, object]) -> None:
    def bad_rater(indices: np.ndarray) -> np.ndarray:
        return np.full(indices.size, 2)

    with pytest.raises(InvalidLabelError, match="0 or 1"):
        _run(world, bad_rater, rounds=0)  # type: ignore[arg-type]


def test_it_branches_arms_from_one_shared_round_zero(world: dict[str, object]) -> None:
    rater = LabelRater(world["truth"])  # type: ignore[arg-type]
    concept = ConceptVectors(world["centres"][:1], np.zeros((0, DIM), np.float32))  # type: ignore[index]
    sim = Simulation(
        world["pool"],
        world["evaluation"],
        concept,
        Calibration(0.3, 0.1),
        _config(),  # type: ignore[arg-type]
    )
    arms = {"m": Arm("margin", 20, 2), "r": Arm("random", 10, 3)}
    round0, by_arm = compare_arms(sim, rater, arms)
    assert round0.round == 0 and round0.labels == 40
    assert [r.labels for r in by_arm["m"]] == [60, 80]
    assert [r.labels for r in by_arm["r"]] == [50, 60, 70]
    expansion = rater.asked[:40]
    for asked_in_arm in (rater.asked[40:80], rater.asked[80:]):
        assert len(set(expansion + asked_in_arm)) == len(expansion + asked_in_arm)
