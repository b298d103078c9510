"""Zero-shot: concept text, concept vector, chunked cosines and per-encoder calibration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling.engine.errors import DimensionMismatchError, NotEnoughLabelsError
from modeling.engine.metrics import average_precision, f1_at
from modeling.engine.zero_shot import (
    CALIBRATIONS,
    FALLBACK,
    Calibration,
    best_f1_threshold,
    calibration_for,
    concept_phrases,
    concept_vector,
    cosine_scores,
    fit_calibration,
    zero_shot_scores,
)


def _unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_it_builds_the_concept_text_from_name_and_phrases() -> None:
    assert concept_phrases("pet", ["cat", " dog ", "cat", ""]) == ["pet", "cat", "dog"]
    assert concept_phrases("lost_or_stolen_card", []) == ["lost or stolen card"]


def test_it_averages_phrases_and_pushes_away_from_negatives() -> None:
    e = np.eye(3, dtype=np.float32)
    v = concept_vector(e[:2])
    assert v == pytest.approx(np.array([1, 1, 0]) / np.sqrt(2))
    away = concept_vector(e[:2], e[1:2])
    assert away[0] > away[1] > 0 and np.linalg.norm(away) == pytest.approx(1.0)
    with pytest.raises(NotEnoughLabelsError):
        concept_vector(np.zeros((0, 3)))


def test_it_streams_cosines_in_chunks_and_scores_in_unit_range() -> None:
    rng = np.random.default_rng(0)
    items, concept = _unit_rows(rng, 1000, 16).astype(np.float16), _unit_rows(rng, 1, 16)[0]
    whole = items.astype(np.float32) @ concept
    assert cosine_scores(items, concept, chunk_rows=77) == pytest.approx(whole, abs=1e-5)
    scores = zero_shot_scores(items, concept, Calibration(0.1, 0.05))
    assert scores.min() >= 0 and scores.max() <= 1
    assert average_precision((whole > 0.3).astype(int), scores) == pytest.approx(1.0)
    with pytest.raises(DimensionMismatchError):
        cosine_scores(items, concept[:8])


@settings(max_examples=50, deadline=None)
@given(
    st.floats(-0.5, 0.8),
    st.floats(1e-3, 1.0),
    st.lists(st.floats(-1, 1), min_size=2, max_size=30),
)
def test_it_maps_cosines_monotonically_with_half_at_the_centre(
    center: float, scale: float, cosines: list[float]
) -> None:
    cal = Calibration(center, scale)
    x = np.sort(np.asarray(cosines))
    s = cal.score(x)
    assert (np.diff(s) >= 0).all() and ((s >= 0) & (s <= 1)).all()
    assert cal.score(np.array([center]))[0] == pytest.approx(0.5)


def test_it_finds_the_f1_best_threshold_and_platt_scale() -> None:
    rng = np.random.default_rng(3)
    labels, cosines = [], []
    for _ in range(4):
        y = (rng.random(4000) < 0.1).astype(int)
        # Logistic truth: P(y=1 | c) = sigmoid((c - 0.3) / 0.05) by construction.
        c = rng.uniform(0.0, 0.6, 4000)
        y = (rng.random(4000) < 1 / (1 + np.exp(-(c - 0.3) / 0.05))).astype(int)
        labels.append(y)
        cosines.append(c.astype(np.float32))
    best = best_f1_threshold(labels, cosines)
    grid_f1 = [
        np.mean([f1_at(y, c, t) for y, c in zip(labels, cosines, strict=True)])
        for t in np.linspace(0.1, 0.5, 41)
    ]
    assert (
        np.mean([f1_at(y, c, best) for y, c in zip(labels, cosines, strict=True)])
        >= max(grid_f1) - 0.005
    )
    cal = fit_calibration(labels, cosines, "synthetic")
    assert cal.scale == pytest.approx(0.05, rel=0.25)


def test_it_has_measured_constants_per_encoder() -> None:
    for name in CALIBRATIONS:
        cal = calibration_for(name)
        assert cal is CALIBRATIONS[name] and "measured" in cal.source
        assert -1 < cal.center < 1 and cal.scale > 0
    assert {"offline", "minilm"} <= set(CALIBRATIONS)
    assert calibration_for("open_clip") is FALLBACK
    assert "center=" in repr(FALLBACK)
