"""The trainer's heads: cross-validated choice between the linear head and the MLP,
calibration folded into the output layer, and files that keep it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling.engine.metrics import average_precision
from modeling.engine.trainer import TrainedModel, later_config, score_pool, train
from modeling.engine.trainer.calibration import platt, pool_prior

DIM = 16


def linear_world(n: int = 6_000, seed: int = 0, rate: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """A pool whose positives (~``rate``) lie beyond a hyperplane, with label noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    margin = x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.normal(size=n)
    return x, (margin > np.quantile(margin, 1 - rate)).astype(np.int64)


def xor_world(n: int = 6_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Positives where two coordinates share a sign and a third is large: no hyperplane fits."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    return x, ((x[:, 0] * x[:, 1] > 0.3) & (x[:, 2] > 0.5)).astype(np.int64)


def quick(head: str = "auto") -> object:
    return replace(later_config(), head=head, batch_size=128, random_negatives=1_024, epochs=8, lr=3e-3,
                   mlp_min_labels=100)


def labeled(y: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(len(y), n, replace=False))


def test_it_keeps_the_linear_head_where_a_hyperplane_separates() -> None:
    x, y = linear_world()
    rows = labeled(y, 600)
    model = train(x[rows], y[rows], x, quick(), exclude=rows)
    assert model.head == "linear" and len(model.folded_layers()) == 1
    assert model.selection["held_out_log_loss"]["mlp"] > min(
        v for k, v in model.selection["held_out_log_loss"].items() if k.startswith("C=")
    )


def test_it_picks_the_mlp_where_no_hyperplane_separates() -> None:
    x, y = xor_world()
    rows = labeled(y, 800)
    model = train(x[rows], y[rows], x, quick(), exclude=rows)
    held_out = np.setdiff1d(np.arange(len(y)), rows)
    linear = train(x[rows], y[rows], x, quick("linear"), exclude=rows)
    assert model.head == "mlp"
    ap_auto = average_precision(y[held_out], score_pool(model, x[held_out]))
    ap_linear = average_precision(y[held_out], score_pool(linear, x[held_out]))
    assert ap_auto > ap_linear + 0.1


def test_calibration_improves_held_out_cross_entropy_and_shifts_no_prior_by_default() -> None:
    x, y = linear_world(rate=0.05)
    rows = labeled(y, 500)
    model = train(x[rows], y[rows], x, quick("linear"), exclude=rows)
    raw = train(x[rows], y[rows], x, replace(quick("linear"), calibrate=False), exclude=rows)
    held_out = np.setdiff1d(np.arange(len(y)), rows)
    w = np.where(y[held_out] == 1, 0.5 / y[held_out].mean(), 0.5 / (1 - y[held_out].mean()))  # balanced, as trained
    assert _log_loss(y[held_out], score_pool(model, x[held_out]), w) < _log_loss(y[held_out], score_pool(raw, x[held_out]), w)
    assert model.calibration.scale > 0 and model.calibration.prior is None


def _log_loss(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(-np.sum(w * (y * np.log(p) + (1 - y) * np.log(1 - p))) / w.sum())


def test_the_pool_prior_shift_estimates_the_pool_rate() -> None:
    x, y = linear_world(rate=0.03)
    rows = labeled(y, 1_000)  # uniform labels: here the estimate has what it assumes
    model = train(x[rows], y[rows], x, replace(quick("linear"), pool_prior_shift=True), exclude=rows)
    assert abs(model.calibration.prior - y.mean()) < 0.015
    assert abs(score_pool(model, x).mean() - y.mean()) < 0.015


def test_the_calibration_is_folded_into_the_layers_the_scorer_reads() -> None:
    x, y = linear_world()
    rows = labeled(y, 400)
    model = train(x[rows], y[rows], x, quick("linear"), exclude=rows)
    logits = model.predict_logits(x[:300])
    raw = torch.from_numpy(x[:300]) - model.mean
    w, b = model.layers[0]
    uncalibrated = ((raw / model.std) @ w.T + b)[:, 0].numpy()
    np.testing.assert_allclose(logits, model.calibration.apply(uncalibrated), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(score_pool(model, x[:300], precision="fp32"), 1 / (1 + np.exp(-logits)), rtol=1e-5)


def test_it_saves_and_loads_the_head_choice_and_calibration(tmp_path: Path) -> None:
    x, y = linear_world()
    rows = labeled(y, 400)
    model = train(x[rows], y[rows], x, quick("linear"), exclude=rows)
    model.save(tmp_path / "m.pt")
    loaded = TrainedModel.load(tmp_path / "m.pt")
    assert loaded.calibration == model.calibration and loaded.selection == model.selection
    np.testing.assert_array_equal(score_pool(loaded, x), score_pool(model, x))


def test_a_model_file_of_the_first_format_still_loads(tmp_path: Path) -> None:
    x, y = linear_world()
    rows = labeled(y, 300)
    model = train(x[rows], y[rows], x, replace(quick("mlp"), calibrate=False), exclude=rows)
    payload = {
        "format": "agile-labeling/mlp/1",
        "config": {k: v for k, v in model.config.to_dict().items() if k not in ("head", "linear_cs", "cv_folds",
                                                                               "mlp_min_labels", "mlp_cv_folds",
                                                                               "calibrate")},
        "input_dim": model.input_dim, "mean": model.mean, "std": model.std,
        "layers": [[w, b] for w, b in model.layers], "loss_history": list(model.loss_history),
    }
    torch.save(payload, tmp_path / "old.pt")
    old = TrainedModel.load(tmp_path / "old.pt")
    assert old.config.head == "mlp" and old.calibration.scale == 1.0 and old.calibration.shift == 0.0
    np.testing.assert_array_equal(score_pool(old, x), score_pool(model, x))


def test_platt_scaling_recovers_a_known_logistic_link() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, 20_000)
    y = (rng.random(z.size) < 1 / (1 + np.exp(-(0.5 * z - 1.0)))).astype(np.int64)
    a, c = platt(z, y, np.ones(z.size))
    assert a == pytest.approx(0.5, abs=0.03) and c == pytest.approx(-1.0, abs=0.05)


def test_platt_scaling_stays_finite_on_separated_scores() -> None:
    z = np.r_[np.full(50, 40.0), np.full(50, -40.0)]
    y = np.r_[np.ones(50), np.zeros(50)].astype(np.int64)
    a, c = platt(z, y, np.ones(100))
    assert np.isfinite(a) and np.isfinite(c) and a > 0


def test_the_pool_prior_is_the_em_fixed_point() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random(50_000) < 0.02
    # Scores from N(+-2.5, 1) by class: their log-likelihood ratio (the balanced-prior logit) is 5 s.
    llr = 5.0 * np.where(truth, rng.normal(2.5, 1, truth.size), rng.normal(-2.5, 1, truth.size))
    assert pool_prior(llr) == pytest.approx(0.02, abs=0.004)
