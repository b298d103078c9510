"""Active learning: the selector, and every strategy's contract."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from modeling.engine.active import (
    STRATEGIES,
    SUB_ROUND,
    kmeans_pp_seeds,
    margin,
    next_batch,
    select,
)
from modeling.engine.errors import (
    DimensionMismatchError,
    EmptyPoolError,
    InvalidLabelError,
    UnknownStrategyError,
)

finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@settings(max_examples=150, deadline=None)
@given(arrays(np.float32, st.integers(1, 300), elements=finite), st.integers(1, 50))
def test_it_selects_the_same_scores_as_a_full_sort(scores: np.ndarray, k: int) -> None:
    picked = select(scores, k)
    expected = np.sort(scores)[::-1][: min(k, len(scores))]
    np.testing.assert_array_equal(scores[picked], expected)  # best first, ties by value
    assert len(np.unique(picked)) == len(picked)


@settings(max_examples=150, deadline=None)
@given(
    arrays(np.float32, st.integers(1, 300), elements=finite | st.just(-np.inf) | st.just(np.nan)),
    st.integers(1, 400),
    st.data(),
)
def test_it_never_returns_excluded_items(scores: np.ndarray, k: int, data: st.DataObject) -> None:
    exclude = np.asarray(data.draw(st.lists(st.integers(0, len(scores) - 1), max_size=len(scores))), dtype=np.int64)
    picked = select(scores, k, exclude)
    assert not np.isin(picked, exclude).any()
    assert len(picked) == min(k, len(scores) - len(np.unique(exclude)))


def test_margin_picks_the_items_nearest_one_half() -> None:
    probs = np.array([0.01, 0.49, 0.97, 0.55, 0.2, 0.5, 0.8])
    assert list(select(margin(probs), 3)) == [5, 1, 3]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_never_reasks_a_rated_item(strategy: str) -> None:
    rng = np.random.default_rng(0)
    probs = rng.random(2_000)
    embeddings = rng.normal(size=(2_000, 8)).astype(np.float32)
    rated = rng.choice(2_000, 300, replace=False)
    # The most uncertain and the most likely items are rated: strategies must skip them.
    rated[:2] = [int(np.argmin(np.abs(probs - 0.5))), int(np.argmax(probs))]
    labels = (probs[rated] > 0.5).astype(np.int64)
    batch = next_batch(strategy, probs, 100, rated, labels, rng, embeddings)
    assert len(batch) == 100 and len(np.unique(batch)) == 100
    assert not np.isin(batch, rated).any()


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_is_seeded(strategy: str) -> None:
    probs = np.random.default_rng(1).random(1_000)
    embeddings = np.random.default_rng(2).normal(size=(1_000, 4))
    rated, labels = np.array([3, 4]), np.array([1, 0])
    runs = [next_batch(strategy, probs, 20, rated, labels, np.random.default_rng(7), embeddings) for _ in range(2)]
    np.testing.assert_array_equal(*runs)


def test_every_strategy_returns_what_is_left_when_the_pool_runs_low() -> None:
    probs = np.linspace(0, 1, 10)
    for strategy in STRATEGIES:
        batch = next_batch(
            strategy,
            probs,
            50,
            np.arange(7),
            np.zeros(7, dtype=np.int64),
            np.random.default_rng(0),
            np.eye(10),
        )
        assert sorted(batch) == [7, 8, 9]


def _one_mining_sub_round(rated_labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(probs, batch): one sub-round of margin-mining over 1,001 evenly spread scores,
    items 0-2 already rated with ``rated_labels``."""
    probs = np.linspace(0.0, 1.0, 1_001)
    batch = next_batch("margin-mining", probs, SUB_ROUND, np.array([0, 1, 2]), np.array(rated_labels),
                       np.random.default_rng(0))
    return probs, batch


def test_mining_takes_top_scores_while_positives_are_scarce() -> None:
    _, batch = _one_mining_sub_round([0, 0, 1])
    assert set(batch) == set(range(1_001 - SUB_ROUND, 1_001))


def test_mining_takes_margin_while_positives_outnumber_negatives() -> None:
    probs, batch = _one_mining_sub_round([1, 1, 0])
    assert np.all(np.abs(probs[batch] - 0.5) <= 0.0051)


def test_mining_switches_within_a_batch_as_expected_positives_accumulate() -> None:
    # Rated: 1 positive, 12 negatives. Top-score sub-rounds add ~1 expected positive per
    # item until the expected balance tips, then margin takes over.
    probs = np.concatenate([np.full(40, 0.999), np.linspace(0.0, 0.9, 961)])
    rated = np.arange(40, 53)
    labels = np.r_[1, np.zeros(12, dtype=np.int64)]
    batch = next_batch("margin-mining", probs, 4 * SUB_ROUND, rated, labels, np.random.default_rng(0))
    first, second, rest = (
        batch[:SUB_ROUND],
        batch[SUB_ROUND : 2 * SUB_ROUND],
        batch[2 * SUB_ROUND :],
    )
    assert np.all(probs[first] > 0.99) and np.all(probs[second] > 0.99)
    assert np.all(np.abs(probs[rest] - 0.5) < 0.05)


def test_diverse_spreads_its_picks_over_clusters() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 16)) * 10
    embeddings = np.repeat(centres, 200, axis=0) + rng.normal(size=(1_000, 16)) * 0.1
    probs = np.full(1_000, 0.1)
    uncertain = (np.arange(1_000) % 200) < 20  # 20 uncertain items in each cluster ...
    probs[uncertain] = 0.49
    probs[:20] = 0.5  # ... the most uncertain of all in cluster 0
    none = np.array([], dtype=np.int64)
    margin_batch = next_batch("margin", probs, 10, none, none, rng)
    diverse = next_batch("margin-diverse", probs, 10, none, none, rng, embeddings)
    assert set(margin_batch // 200) == {0}
    assert set(diverse // 200) == {0, 1, 2, 3, 4}


def test_badge_spreads_its_picks_over_the_models_representation_not_the_embedding() -> None:
    rng = np.random.default_rng(0)
    hidden = np.repeat(rng.normal(size=(5, 8)) * 10, 200, axis=0) + rng.normal(size=(1_000, 8)) * 0.1
    embeddings = np.zeros((1_000, 4))  # the shared-space embedding tells the items apart not at all
    probs = np.full(1_000, 0.1)
    probs[(np.arange(1_000) % 200) < 20] = 0.49
    probs[:20] = 0.5
    calls: list[np.ndarray] = []

    def represent(rows: np.ndarray) -> np.ndarray:
        calls.append(rows)
        return hidden[rows]

    rated = np.array([200, 201], dtype=np.int64)  # two items of cluster 1 already rated
    batch = next_batch("badge", probs, 10, rated, np.array([1, 0]), rng, embeddings, represent)
    assert set(batch // 200) == {0, 1, 2, 3, 4} and not np.isin(batch, rated).any()
    [asked] = calls  # one call, for the 10 x k most uncertain unrated items, ascending
    assert len(asked) == 100 and np.all(np.diff(asked) > 0) and (probs[asked] >= 0.49).sum() == 98
    # Without a model yet, badge is margin-diverse on the embeddings.
    spread = rng.normal(size=(1_000, 4))
    np.testing.assert_array_equal(
        next_batch("badge", probs, 10, rated, np.array([1, 0]), np.random.default_rng(3), spread),
        next_batch("margin-diverse", probs, 10, rated, np.array([1, 0]), np.random.default_rng(3), spread),
    )


def test_kmeans_pp_picks_distinct_rows_even_among_duplicates() -> None:
    vectors = np.zeros((30, 3), dtype=np.float32)
    vectors[:3] = np.eye(3)
    seeds = kmeans_pp_seeds(vectors, 6, np.random.default_rng(0))
    assert len(np.unique(seeds)) == 6
    assert {0, 1, 2} <= set(seeds.tolist())


def test_it_rejects_bad_requests() -> None:
    rng = np.random.default_rng(0)
    probs = rng.random(10)
    with pytest.raises(UnknownStrategyError):
        next_batch("coreset", probs, 2, np.array([]), np.array([]), rng)
    with pytest.raises(DimensionMismatchError):
        next_batch("margin-diverse", probs, 2, np.array([]), np.array([]), rng)
    with pytest.raises(DimensionMismatchError):
        next_batch("margin", probs, 2, np.array([1, 2]), np.array([1]), rng)
    with pytest.raises(InvalidLabelError):
        next_batch("margin", probs, 2, np.array([1]), np.array([3]), rng)
    with pytest.raises(EmptyPoolError):
        next_batch("margin", probs, 2, np.arange(10), np.zeros(10), rng)
