"""Batch composition: half labeled positives, a quarter labeled negatives, a quarter random.

Random negatives are pool rows drawn uniformly (the pool's positive rate is small, so
they are mostly true negatives; the original recipe accepts that noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from modeling.engine.trainer.streaming import release_rows, will_need


@dataclass(frozen=True)
class BatchPlan:
    """Rows per batch from each source; ``steps`` batches make one epoch."""

    positives: int
    labeled_negatives: int
    random_negatives: int
    steps: int

    @property
    def batch_size(self) -> int:
        return self.positives + self.labeled_negatives + self.random_negatives


def plan_epoch(batch_size: int, n_labeled_neg: int, n_random: int) -> BatchPlan:
    """Split ``batch_size`` half / quarter / quarter; an epoch is one pass over the random rows.

    Without labeled negatives their quarter goes to random negatives and vice versa;
    without random rows an epoch is one pass over the labeled negatives.
    """
    half, quarter = batch_size // 2, batch_size // 4
    n_ln = quarter if n_labeled_neg else 0
    n_rn = batch_size - half - n_ln if n_random else 0
    if not n_random:
        n_ln = batch_size - half
    covered, per_batch = (n_random, n_rn) if n_random else (n_labeled_neg, n_ln)
    return BatchPlan(half, n_ln, n_rn, steps=max(1, covered // per_batch))


class NegativeDraws:
    """Uniform draws of distinct pool rows outside an excluded set (the random negatives).

    Built once per training run: the excluded rows become a boolean mask (1 byte per pool
    row), and each draw samples with replacement, drops blocked and repeated rows, and
    tops up until it has ``count`` distinct rows. Its cost depends on ``count``, not on
    how many rows are excluded, so keeping 5M likely positives out of a 10M pool costs
    no more per epoch than keeping out 600 rated ones.
    """

    def __init__(self, n_rows: int, exclude: np.ndarray | None = None) -> None:
        """``exclude``: row indices in any order, repeats allowed (the mask dedups them)."""
        self.n_rows = n_rows
        self._blocked: np.ndarray | None = None
        self.available = n_rows
        if exclude is not None and len(exclude):
            rows = np.asarray(exclude, dtype=np.int64)
            self._blocked = np.zeros(n_rows, dtype=bool)
            self._blocked[rows[(rows >= 0) & (rows < n_rows)]] = True
            self.available = n_rows - int(np.count_nonzero(self._blocked))

    def draw(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``min(count, available)`` distinct allowed row indices, uniform, sorted (so that
        reading them from a memmap walks the file forwards)."""
        count = min(count, self.available)
        if count <= 0:
            return np.empty(0, dtype=np.int64)
        if 2 * count > self.available:  # dense: choose among the allowed rows directly
            allowed = np.arange(self.n_rows) if self._blocked is None else np.flatnonzero(~self._blocked)
            return np.sort(rng.choice(allowed, size=count, replace=False))
        picked = np.empty(0, dtype=np.int64)
        while len(picked) < count:
            need = count - len(picked)
            candidates = rng.integers(0, self.n_rows, size=int(need * 1.1 * self.n_rows / self.available) + 16)
            if self._blocked is not None:
                candidates = candidates[~self._blocked[candidates]]
            merged = np.concatenate([picked, candidates])
            _, first = np.unique(merged, return_index=True)
            picked = merged[np.sort(first)]  # distinct, in draw order
        return np.sort(picked[:count])


def draw_pool_rows(pool: np.ndarray, count: int, exclude: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct row indices of ``pool`` (N, d), uniform, none in ``exclude``, sorted."""
    return NegativeDraws(pool.shape[0], exclude).draw(count, rng)


def read_rows(pool: np.ndarray, rows: np.ndarray, chunk: int = 65_536) -> torch.Tensor:
    """``pool[rows]`` as float32 (len(rows), d) for ascending ``rows``, read in chunks so a
    float16 memmap never materialises a second full-precision copy of more than ``chunk``
    rows at once.

    Scattered reads map pages all over the file (the kernel maps up to 16 cached pages
    around each fault): each chunk's span, from the previous chunk's first row, is
    released again, or 500k rows drawn from a 10 GB memmap would map all 10 GB.
    """
    out = torch.empty((len(rows), pool.shape[1]), dtype=torch.float32)
    released_from = 0
    for start in range(0, len(rows), chunk):
        part_rows = rows[start : start + chunk]
        will_need(pool, part_rows)  # a cold pool's rows are read in parallel, not one fault at a time
        part = np.asarray(pool[part_rows])
        out[start : start + len(part)] = torch.from_numpy(part.astype(np.float32, copy=False))
        release_rows(pool, released_from, int(part_rows[-1]) + 1)
        released_from = int(part_rows[0])
    return out


def batch_indices(
    plan: BatchPlan,
    n_pos: int,
    n_neg: int,
    n_random: int,
    rng: np.random.Generator,
    odds: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices per step for one epoch: (steps, positives), (steps, labeled_negatives),
    (steps, random_negatives). Labeled rows are drawn with replacement (oversampled),
    uniformly or, with ``odds`` = (p_pos (n_pos,), p_neg (n_neg,)), in proportion to their
    weights; random rows are a permutation, each used at most once per epoch."""
    if odds is None:
        pos = rng.integers(0, n_pos, size=(plan.steps, plan.positives))
        neg = rng.integers(0, max(n_neg, 1), size=(plan.steps, plan.labeled_negatives))
    else:
        pos = rng.choice(n_pos, size=(plan.steps, plan.positives), p=odds[0])
        neg = rng.choice(max(n_neg, 1), size=(plan.steps, plan.labeled_negatives), p=odds[1] if n_neg else None)
    needed = plan.steps * plan.random_negatives
    # A draw smaller than one batch's share (tiny pools) is reused with replacement.
    order = rng.choice(n_random, size=needed, replace=needed > n_random) if n_random else np.empty(0)
    return pos, neg, order.astype(np.int64).reshape(plan.steps, plan.random_negatives)
