"""Trainer: learns, is deterministic, saves/loads, composes batches, stops early."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling.engine.errors import (
    DimensionMismatchError,
    InvalidLabelError,
    ModelFileError,
    NotEnoughLabelsError,
)
from modeling.engine.metrics import average_precision
from modeling.engine.trainer import (
    Int8Features,
    TrainConfig,
    TrainedModel,
    initial_config,
    later_config,
    mlp,
    original_config,
    quantize_int8,
    score_pool,
    scoring,
    train,
)
from modeling.engine.trainer.paths import available
from modeling.engine.trainer.sampling import NegativeDraws, batch_indices, draw_pool_rows, plan_epoch
from tests.modeling.memory import resident_kb

DIM = 16


def toy_pool(n: int = 4_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A float16 pool (n, DIM) whose positives (~5%) lie beyond a hyperplane margin."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 2.0).astype(np.int64)
    x[y == 1, 0] += 1.0  # widen the gap so the problem is separable
    return x.astype(np.float16), y


def fast(config: TrainConfig) -> TrainConfig:
    """The paper config shrunk so a test trains in well under a second."""
    return replace(config, lr=3e-3, batch_size=64, random_negatives=512, epochs=4)


def plain_mlp(config: TrainConfig) -> TrainConfig:
    """Only the network, uncalibrated (the head before cross-validation existed)."""
    return replace(fast(config), head="mlp", calibrate=False)


def labeled_slice(y: np.ndarray, n_pos: int = 30, n_neg: int = 60) -> np.ndarray:
    return np.concatenate([np.flatnonzero(y == 1)[:n_pos], np.flatnonzero(y == 0)[:n_neg]])


@pytest.mark.parametrize("head", ["auto", "linear", "mlp", "plain-mlp"])
def test_it_learns_a_separable_toy_problem(head: str) -> None:
    pool, y = toy_pool()
    rows = labeled_slice(y)
    config = plain_mlp(initial_config()) if head == "plain-mlp" else replace(fast(initial_config()), head=head)
    model = train(pool[rows], y[rows], pool, config, exclude=rows)
    probs = score_pool(model, pool)
    held_out = np.setdiff1d(np.arange(len(y)), rows)
    top = held_out[np.argsort(-probs[held_out])[: int(y[held_out].sum())]]
    assert y[top].mean() > 0.8  # precision at the positive count, chance is ~0.05
    assert model.head == ("linear" if head in ("auto", "linear") else "mlp")  # auto: < 200 labels
    if model.head == "mlp":
        assert model.loss_history[-1] < model.loss_history[0]


def test_it_is_deterministic_under_a_seed_and_differs_across_seeds() -> None:
    pool, y = toy_pool()
    rows = labeled_slice(y)
    config = fast(later_config())
    a = train(pool[rows], y[rows], pool, config).predict_proba(pool[:500])
    b = train(pool[rows], y[rows], pool, config).predict_proba(pool[:500])
    c = train(pool[rows], y[rows], pool, replace(config, seed=1)).predict_proba(pool[:500])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_it_saves_and_loads_to_identical_scores(tmp_path: Path) -> None:
    pool, y = toy_pool()
    rows = labeled_slice(y)
    model = train(pool[rows], y[rows], pool, fast(later_config()))
    model.save(tmp_path / "model.pt")
    loaded = TrainedModel.load(tmp_path / "model.pt")
    assert loaded.config == model.config and loaded.loss_history == model.loss_history
    np.testing.assert_array_equal(score_pool(loaded, pool), score_pool(model, pool))
    assert (tmp_path / "model.pt").stat().st_size < 500_000


def test_it_rejects_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        TrainedModel.load(tmp_path / "junk.pt")


def test_it_composes_batches_half_positives_quarter_negatives_quarter_random() -> None:
    plan = plan_epoch(512, n_labeled_neg=40, n_random=4_096)
    assert (plan.positives, plan.labeled_negatives, plan.random_negatives) == (256, 128, 128)
    assert plan.steps == 4_096 // 128  # an epoch is one pass over the random negatives
    pos, neg, rand = batch_indices(plan, 7, 40, 4_096, np.random.default_rng(0))
    assert pos.shape == (32, 256) and neg.shape == (32, 128) and rand.shape == (32, 128)
    assert pos.max() < 7 and neg.max() < 40
    assert len(np.unique(rand)) == rand.size  # each random negative once per epoch


def test_it_feeds_the_network_batches_of_half_quarter_quarter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Column 0 tells the sources apart: labeled positives 5, labeled negatives -5, pool 0.
    rng = np.random.default_rng(0)
    pool = rng.normal(size=(5_000, 8)).astype(np.float32)
    pool[:, 0] = 0.0
    features = rng.normal(size=(30, 8)).astype(np.float32)
    features[:10, 0], features[10:, 0] = 5.0, -5.0
    labels = np.r_[np.ones(10), np.zeros(20)].astype(np.int64)
    seen: list[torch.Tensor] = []
    real_build = mlp.build_mlp

    def spying_build(*args: Any) -> torch.nn.Sequential:
        net = real_build(*args)
        net[0].register_forward_pre_hook(lambda _m, inp: seen.append(inp[0][:, 0].clone()))
        return net

    monkeypatch.setattr(mlp, "build_mlp", spying_build)
    config = replace(initial_config(), batch_size=64, random_negatives=640, epochs=2, head="mlp", calibrate=False)
    train(features, labels, pool, config)
    assert len(seen) == 2 * 640 // 16  # two passes over 640 random rows, 16 per batch
    for batch in seen:
        levels, counts = torch.unique(batch, return_counts=True)  # ascending: neg, pool, pos
        assert len(levels) == 3 and counts.tolist() == [16, 16, 32]


def test_it_gives_the_labeled_negative_quarter_to_random_rows_when_there_are_none() -> None:
    plan = plan_epoch(512, n_labeled_neg=0, n_random=4_096)
    assert (plan.positives, plan.labeled_negatives, plan.random_negatives) == (256, 0, 256)
    no_pool = plan_epoch(512, n_labeled_neg=300, n_random=0)
    assert (no_pool.positives, no_pool.labeled_negatives, no_pool.random_negatives) == (256, 256, 0)


def test_it_never_draws_excluded_rows_as_random_negatives() -> None:
    pool = np.zeros((1_000, 4), dtype=np.float16)
    excluded = np.arange(0, 1_000, 2)
    rows = draw_pool_rows(pool, 400, excluded, np.random.default_rng(3))
    assert len(rows) == 400 and not np.isin(rows, excluded).any()
    assert np.all(np.diff(rows) > 0)


@settings(max_examples=60, deadline=None)
@given(
    n_rows=st.integers(1, 3_000),
    count=st.integers(0, 4_000),
    blocked_share=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_negative_draws_are_distinct_allowed_rows_whatever_is_excluded(
    n_rows: int, count: int, blocked_share: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    excluded = np.flatnonzero(rng.random(n_rows) < blocked_share)
    draws = NegativeDraws(n_rows, excluded)
    rows = draws.draw(count, np.random.default_rng(seed))
    assert len(rows) == min(count, n_rows - len(excluded)) == min(count, draws.available)
    assert np.all(np.diff(rows) > 0) and not np.isin(rows, excluded).any()
    assert rows.size == 0 or (rows.min() >= 0 and rows.max() < n_rows)
    np.testing.assert_array_equal(rows, draws.draw(count, np.random.default_rng(seed)))


def test_negative_draws_are_uniform_over_the_allowed_rows() -> None:
    draws = NegativeDraws(100_000, np.arange(0, 90_000))  # 90 % of the pool kept out
    counts = np.bincount(
        np.concatenate([draws.draw(2_000, np.random.default_rng(s)) for s in range(50)]) - 90_000,
        minlength=10_000,
    )
    assert counts.sum() == 100_000 and counts.min() >= 0
    # 10 cells of 1,000 rows each expect 10,000 draws; a chi-square test at 10 dof.
    cells = counts.reshape(10, -1).sum(axis=1)
    assert ((cells - 10_000) ** 2 / 10_000).sum() < 29.6  # p = 0.001


def test_it_stops_early_when_the_loss_falls_to_the_fraction() -> None:
    pool, y = toy_pool()
    rows = labeled_slice(y)
    config = replace(plain_mlp(initial_config()), dropout=0.0, lr=1e-2, stop_at_loss_fraction=0.2, max_epochs=60)
    model = train(pool[rows], y[rows], pool, config)
    assert model.epochs_run < 60
    assert model.loss_history[-1] <= 0.2 * model.loss_history[0]
    assert all(loss > 0.2 * model.loss_history[0] for loss in model.loss_history[1:-1])


def test_it_runs_max_epochs_when_the_fraction_is_never_reached() -> None:
    pool, y = toy_pool()
    rows = labeled_slice(y)
    config = replace(plain_mlp(initial_config()), stop_at_loss_fraction=1e-9, max_epochs=3)
    seen: list[tuple[int, int]] = []
    model = train(pool[rows], y[rows], pool, config, progress=lambda d, t: seen.append((d, t)))
    assert model.epochs_run == 3 and seen == [(1, 3), (2, 3), (3, 3)]


def test_it_trains_without_a_pool_from_labeled_negatives_alone() -> None:
    pool, y = toy_pool()
    rows = labeled_slice(y)
    model = train(pool[rows], y[rows], None, fast(initial_config()))
    assert model.predict_proba(pool[:10]).shape == (10,)


@pytest.mark.parametrize(
    ("labels", "error"),
    [
        (np.zeros(90, dtype=np.int64), NotEnoughLabelsError),
        (np.full(90, 2), InvalidLabelError),
        (np.ones(89, dtype=np.int64), DimensionMismatchError),
    ],
)
def test_it_rejects_bad_labels(labels: np.ndarray, error: type[Exception]) -> None:
    pool, y = toy_pool()
    rows = labeled_slice(y)
    with pytest.raises(error):
        train(pool[rows], labels, pool, fast(initial_config()))


def test_it_rejects_a_pool_of_another_width() -> None:
    pool, y = toy_pool()
    rows = labeled_slice(y)
    with pytest.raises(DimensionMismatchError):
        train(pool[rows], y[rows], pool[:, :8], fast(initial_config()))


def test_it_scores_in_bf16_and_int8_close_to_fp32_and_in_any_chunking() -> None:
    pool, y = toy_pool()
    rows = labeled_slice(y)
    model = train(pool[rows], y[rows], pool, fast(later_config()))
    fp32 = score_pool(model, pool, precision="fp32")
    np.testing.assert_allclose(score_pool(model, pool, chunk_rows=333), score_pool(model, pool), rtol=1e-4)
    np.testing.assert_allclose(score_pool(model, pool, precision="bf16"), fp32, atol=0.03)
    if "int8" in available():
        np.testing.assert_allclose(score_pool(model, pool, precision="int8"), fp32, atol=scoring.TOLERANCE)
    np.testing.assert_allclose(model.predict_proba(pool), fp32, rtol=1e-5, atol=1e-6)
    progress: list[int] = []
    score_pool(model, pool, chunk_rows=1_500, progress=lambda done, total: progress.append(done))
    assert progress == [1_500, 3_000, 4_000]


def test_it_uses_the_paper_layer_sizes_and_keeps_the_original_recipe() -> None:
    assert initial_config().hidden == (16,) and later_config().hidden == (128, 128, 128)
    config = later_config()
    assert (config.dropout, config.weight_decay, config.epochs) == (0.5, 1e-4, 10)
    original = original_config()
    assert (original.lr, original.random_negatives, original.resample_negatives) == (
        1e-4,
        500_000,
        False,
    )
    assert original.hidden == (128, 128, 128)


def test_it_scores_an_int8_copy_of_the_pool_like_the_float_pool(tmp_path: Path) -> None:
    pool, y = toy_pool()
    rows = labeled_slice(y)
    model = train(pool[rows], y[rows], pool, fast(later_config()))
    copy = quantize_int8(pool, tmp_path / "int8")
    loaded = Int8Features.load(tmp_path / "int8")
    assert loaded.codes.dtype == np.int8 and loaded.shape == pool.shape
    np.testing.assert_allclose(loaded.dequantize(), pool.astype(np.float32), atol=0.02)
    exact = score_pool(model, pool, precision="fp32")
    np.testing.assert_allclose(score_pool(model, loaded, chunk_rows=999), exact, atol=0.03)
    np.testing.assert_array_equal(score_pool(model, copy), score_pool(model, loaded))


def test_it_streams_a_memmap_without_keeping_it_mapped(tmp_path: Path) -> None:
    pool, y = toy_pool(n=40_000)
    np.save(tmp_path / "pool.npy", pool)
    mapped = np.load(tmp_path / "pool.npy", mmap_mode="r")
    rows = labeled_slice(y)
    model = train(pool[rows], y[rows], mapped, fast(initial_config()))
    probs = score_pool(model, mapped, chunk_rows=4_096)
    np.testing.assert_array_equal(probs, score_pool(model, pool, chunk_rows=4_096))
    # 40k x 16 float16 is 1,250 kB; only the pages straddling chunk edges stay mapped.
    assert resident_kb(tmp_path / "pool.npy") < 400
    np.asarray(mapped).sum()  # a plain full read keeps every page mapped: the check bites
    assert resident_kb(tmp_path / "pool.npy") > 1_000



def common_concept(seed: int = 0, n: int = 6_000) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A concept held by ~39 % of the pool, 20 boundary positives and 40 negatives rated (as
    active learning picks them), and a fair previous model's pool scores.

    Returns (pool (n, DIM) float32, truth (n,), rated rows (60,), previous scores (n,)).
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    margin = x[:, 0] + 0.5 * x[:, 1]
    y = (margin > 0.3).astype(np.int64)
    rows = np.concatenate([np.flatnonzero((y == 1) & (margin < 0.8))[:20], np.flatnonzero(y == 0)[:40]])
    previous = 1 / (1 + np.exp(-2 * (margin - 0.3) + rng.normal(size=n)))
    return x, y, rows, previous


def test_keeping_likely_positives_out_of_the_random_negatives_helps_a_common_concept() -> None:
    pool, y, rows, previous = common_concept()
    config = replace(later_config(), batch_size=64, random_negatives=512, lr=3e-3)
    held_out = np.setdiff1d(np.arange(len(y)), rows)
    presumed = train(pool[rows], y[rows], pool, config, exclude=rows)
    informed = train(pool[rows], y[rows], pool, config, exclude=rows, previous_scores=previous)
    ap_presumed = average_precision(y[held_out], score_pool(presumed, pool[held_out]))
    ap_informed = average_precision(y[held_out], score_pool(informed, pool[held_out]))
    assert ap_informed > ap_presumed + 0.08  # measured .894 vs .753 (5 seeds: +.14 to +.16)


def test_it_never_draws_a_row_the_previous_model_calls_positive() -> None:
    pool, y, rows, previous = common_concept(n=2_000)
    poisoned = pool.copy()
    poisoned[previous >= 0.5] = np.nan  # any draw of such a row would make the weights NaN
    poisoned[rows] = pool[rows]
    config = replace(later_config(), batch_size=64, random_negatives=256, epochs=3, head="mlp", calibrate=False)
    model = train(pool[rows], y[rows], poisoned, config, exclude=rows, previous_scores=previous)
    assert all(torch.isfinite(w).all() for w, _ in model.layers)
    unguarded = train(pool[rows], y[rows], poisoned, config, exclude=rows)
    assert not all(torch.isfinite(w).all() for w, _ in unguarded.layers)
    ignored = train(pool[rows], y[rows], poisoned, replace(config, likely_positive_threshold=None),
                    exclude=rows, previous_scores=previous)
    assert not all(torch.isfinite(w).all() for w, _ in ignored.layers)
    assert original_config().likely_positive_threshold is None
    with pytest.raises(DimensionMismatchError, match="one score per pool row"):
        train(pool[rows], y[rows], pool, config, previous_scores=previous[:-1])


def test_a_soft_target_trains_exactly_as_a_weighted_positive_and_negative_pair() -> None:
    pool, y = toy_pool()
    rows = labeled_slice(y)
    config = plain_mlp(initial_config())
    soft = np.where(y[rows] == 1, 0.8, 0.1)
    a = train(pool[rows], soft, pool, config)
    doubled = np.concatenate([rows, rows])
    hard = np.r_[np.ones(len(rows)), np.zeros(len(rows))]
    b = train(pool[doubled], hard, pool, config, weights=np.r_[soft, 1 - soft])
    np.testing.assert_array_equal(a.predict_proba(pool[:500]), b.predict_proba(pool[:500]))


def test_a_zero_weight_item_changes_nothing() -> None:
    pool, y = toy_pool()
    rows = labeled_slice(y)
    config = plain_mlp(initial_config())
    base = train(pool[rows], y[rows], pool, config, weights=np.full(len(rows), 2.0))
    junk = np.flatnonzero(y == 0)[-1:]  # a negative given the wrong label at weight 0
    more = np.concatenate([rows, junk])
    padded = train(pool[more], np.r_[y[rows], 1], pool, config, weights=np.r_[np.full(len(rows), 2.0), 0.0])
    np.testing.assert_array_equal(base.predict_proba(pool[:500]), padded.predict_proba(pool[:500]))


def test_it_learns_from_soft_crowd_targets_and_weights() -> None:
    pool, y = toy_pool()
    rows = labeled_slice(y)
    rng = np.random.default_rng(1)
    posterior = np.clip(np.where(y[rows] == 1, 0.85, 0.15) + rng.normal(0, 0.1, len(rows)), 0, 1)
    model = train(pool[rows], posterior, pool, fast(initial_config()), weights=rng.uniform(0.5, 1, len(rows)))
    held_out = np.setdiff1d(np.arange(len(y)), rows)
    assert average_precision(y[held_out], score_pool(model, pool[held_out])) > 0.8


@pytest.mark.parametrize(
    ("labels", "weights", "error"),
    [
        (np.full(90, np.nan), None, InvalidLabelError),
        (np.full(90, 1.5), None, InvalidLabelError),
        (np.ones(90), -np.ones(90), InvalidLabelError),
        (np.ones(90), np.ones(89), DimensionMismatchError),
        (np.ones(90), np.zeros(90), NotEnoughLabelsError),
    ],
)
def test_it_rejects_bad_soft_targets_and_weights(
    labels: np.ndarray, weights: np.ndarray | None, error: type[Exception]
) -> None:
    pool, y = toy_pool()
    rows = labeled_slice(y)
    with pytest.raises(error):
        train(pool[rows], labels, pool, fast(initial_config()), weights=weights)
