"""Batch composition: half labeled positives, a quarter labeled negatives, a quarter random.

Random negatives are pool rows drawn uniformly (the pool's positive rate is small, so
they are mostly true negatives; the original recipe accepts that noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from modeling.engine.trainer.streaming import release_rows


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


def draw_pool_rows(pool: np.ndarray, count: int, exclude: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct row indices of ``pool`` (N, d), uniform, none in ``exclude``, sorted.

    Sorted so that reading them from a memmap walks the file forwards.
    """
    n_rows = pool.shape[0]
    excluded = np.unique(exclude) if exclude is not None and len(exclude) else np.empty(0, np.int64)
    count = min(count, n_rows - len(excluded))
    picked = rng.choice(n_rows, size=min(n_rows, count + len(excluded)), replace=False)
    if len(excluded):
        picked = picked[~np.isin(picked, excluded)][:count]
    return np.sort(picked)


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
        part = np.asarray(pool[part_rows])
        out[start : start + len(part)] = torch.from_numpy(part.astype(np.float32, copy=False))
        release_rows(pool, released_from, int(part_rows[-1]) + 1)
        released_from = int(part_rows[0])
    return out


def batch_indices(
    plan: BatchPlan, n_pos: int, n_neg: int, n_random: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices per step for one epoch: (steps, positives), (steps, labeled_negatives),
    (steps, random_negatives). Labeled rows are drawn with replacement (oversampled);
    random rows are a permutation, each used at most once per epoch."""
    pos = rng.integers(0, n_pos, size=(plan.steps, plan.positives))
    neg = rng.integers(0, max(n_neg, 1), size=(plan.steps, plan.labeled_negatives))
    needed = plan.steps * plan.random_negatives
    # A draw smaller than one batch's share (tiny pools) is reused with replacement.
    order = rng.choice(n_random, size=needed, replace=needed > n_random) if n_random else np.empty(0)
    return pos, neg, order.astype(np.int64).reshape(plan.steps, plan.random_negatives)
