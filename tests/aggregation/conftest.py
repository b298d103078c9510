"""Shared fixtures and strategies for the aggregation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st

from aggregation.engine import Answers

#: Real crowd data, read in place (see ../shared/data/README.md).
CROWD = Path(__file__).resolve().parents[3] / "shared" / "data" / "crowd"


def make_answers(rows: list[tuple[int, int, int]], **sizes: int) -> Answers:
    """Answers from (task, worker, label) triples."""
    t, w, y = (np.array(col, dtype=np.int64) for col in zip(*rows)) if rows else ([], [], [])
    return Answers.from_arrays(t, w, y, **sizes)


@st.composite
def answer_sets(draw: st.DrawFn, max_tasks: int = 8, max_workers: int = 6) -> Answers:
    """Random answers: each (task, worker) pair answered at most once."""
    k = draw(st.integers(2, 4))
    n_tasks = draw(st.integers(1, max_tasks))
    n_workers = draw(st.integers(1, max_workers))
    pairs = [(t, w) for t in range(n_tasks) for w in range(n_workers)]
    chosen = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=len(pairs), unique=True))
    labels = draw(st.lists(st.integers(0, k - 1), min_size=len(chosen), max_size=len(chosen)))
    t = np.array([p[0] for p in chosen])
    w = np.array([p[1] for p in chosen])
    return Answers.from_arrays(
        t, w, np.array(labels), n_tasks=n_tasks, n_workers=n_workers, n_classes=k
    )


@pytest.fixture
def toy() -> Answers:
    """Three tasks, three workers: task 0 = [1, 1, 0], task 1 = [0, 1] (a tie), task 2 =
    [1]; task 3 has no vote."""
    return make_answers(
        [(0, 0, 1), (0, 1, 1), (0, 2, 0), (1, 0, 0), (1, 1, 1), (2, 0, 1)], n_tasks=4
    )
