"""Expansion: nearest items per phrase, union, de-duplication, seeded sample."""

from __future__ import annotations

import numpy as np
import pytest

from modeling.engine.errors import DimensionMismatchError, MissingPhraseError
from modeling.engine.expansion import expand
from modeling.engine.index import build_index


def unit_rows(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


VECTORS = unit_rows(np.random.default_rng(0).normal(size=(3_000, 16)))
INDEX = build_index(VECTORS)
NO_NEGATIVES = np.empty((0, 16), dtype=np.float32)


def test_it_unions_and_deduplicates_the_neighbours_of_every_phrase() -> None:
    name = VECTORS[0]
    near_name = unit_rows(VECTORS[:1] + 0.01)  # shares most neighbours with the name
    result = expand(INDEX, np.vstack([name, near_name]), VECTORS[[500]], rng=np.random.default_rng(0))
    expected = np.unique(result.neighbours)
    np.testing.assert_array_equal(result.candidates, expected)
    assert result.neighbours.shape == (3, 100)
    assert 200 <= len(result.candidates) < 300  # overlap between name and near-name removed


def test_it_counts_the_name_as_a_positive_phrase_and_negatives_alike() -> None:
    name, negative = VECTORS[[10]], VECTORS[[20]]
    result = expand(INDEX, name, negative, per_phrase=50, rng=np.random.default_rng(0))
    assert {10, 20} <= set(result.candidates.tolist())
    only_name = expand(INDEX, name, NO_NEGATIVES, per_phrase=50, rng=np.random.default_rng(0))
    assert set(only_name.candidates.tolist()) == set(result.neighbours[0].tolist())


def test_it_samples_a_seeded_subset_to_rate() -> None:
    phrases = VECTORS[[1, 2, 3]]
    a = expand(INDEX, phrases, NO_NEGATIVES, sample=100, rng=np.random.default_rng(5))
    b = expand(INDEX, phrases, NO_NEGATIVES, sample=100, rng=np.random.default_rng(5))
    c = expand(INDEX, phrases, NO_NEGATIVES, sample=100, rng=np.random.default_rng(6))
    np.testing.assert_array_equal(a.batch, b.batch)
    assert not np.array_equal(a.batch, c.batch)
    assert len(a.batch) == 100 and len(np.unique(a.batch)) == 100
    assert np.isin(a.batch, a.candidates).all()


def test_it_returns_every_candidate_when_there_are_fewer_than_the_sample() -> None:
    result = expand(INDEX, VECTORS[[7]], NO_NEGATIVES, per_phrase=30, sample=100, rng=np.random.default_rng(0))
    assert sorted(result.batch.tolist()) == result.candidates.tolist()


def test_it_leaves_out_excluded_items() -> None:
    result = expand(INDEX, VECTORS[[7]], NO_NEGATIVES, exclude=np.array([7]), rng=np.random.default_rng(0))
    assert 7 not in result.candidates and 7 not in result.batch


def test_it_needs_a_positive_phrase_of_the_right_width() -> None:
    with pytest.raises(MissingPhraseError):
        expand(INDEX, NO_NEGATIVES, VECTORS[[1]], rng=np.random.default_rng(0))
    with pytest.raises(DimensionMismatchError):
        expand(INDEX, np.ones((1, 8)), NO_NEGATIVES, rng=np.random.default_rng(0))
