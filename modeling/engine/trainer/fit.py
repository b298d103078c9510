"""The training loop: Adam on BCE over half/quarter/quarter batches, seeded end to end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from modeling.engine.errors import DimensionMismatchError, EmptyPoolError
from modeling.engine.trainer.config import TrainConfig
from modeling.engine.trainer.model import TrainedModel
from modeling.engine.trainer.network import build_mlp, linear_layers
from modeling.engine.trainer.sampling import (
    BatchPlan,
    NegativeDraws,
    batch_indices,
    plan_epoch,
    read_rows,
)
from modeling.engine.trainer.targets import WeightedExamples, require_classes, split_targets

Progress = Callable[[int, int], None]
#: Floor on per-dimension std so constant dimensions do not blow up standardisation.
_MIN_STD = 1e-6


def train(
    features: np.ndarray,
    labels: np.ndarray,
    pool_features: np.ndarray | None,
    config: TrainConfig,
    progress: Progress | None = None,
    *,
    exclude: np.ndarray | None = None,
    previous_scores: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> TrainedModel:
    """Train an MLP classifier on labeled embeddings plus random pool negatives.

    features: (n, d) float16/float32 embeddings of the labeled items.
    labels: (n,) targets in [0, 1]: 0/1 for an expert's answers, or the probability
        that the item is positive (a soft target, e.g. an aggregated crowd posterior
        P(yes)). Some positive mass is needed.
    pool_features: (N, d) pool embeddings (a float16 memmap is fine) or None; the
        source of random negatives, drawn uniformly, ``config.random_negatives`` rows.
    progress: called as ``progress(epochs_done, epochs_planned)`` after every epoch.
    exclude: (m,) pool row indices never drawn as random negatives (e.g. rated items,
        which already enter as labeled rows).
    previous_scores: (N,) the previous model's probabilities for every pool row (or the
        zero-shot scores before the first model); rows scoring at least
        ``config.likely_positive_threshold`` are not drawn as random negatives either.
    weights: (n,) non-negative per-item weights (default 1), e.g. to let a crowd label
        count less than an expert's. An item of target t and weight w enters training
        as a positive of weight w t and a negative of weight w (1 - t), which is exactly
        the soft-target cross-entropy ``-w (t log p + (1 - t) log(1 - p))``.
    """
    x, examples = _validated(features, labels, pool_features, weights)
    exclude = _with_likely_positives(exclude, previous_scores, pool_features, config.likely_positive_threshold)
    with torch_threads(config.threads):
        return _fit(x, examples, pool_features, config, progress, exclude)


def likely_positive_rows(previous_scores: np.ndarray, threshold: float) -> np.ndarray:
    """Pool rows (int64, ascending) the previous model scores at least ``threshold``."""
    return np.flatnonzero(np.asarray(previous_scores) >= threshold).astype(np.int64)


def _with_likely_positives(
    exclude: np.ndarray | None,
    previous_scores: np.ndarray | None,
    pool: np.ndarray | None,
    threshold: float | None,
) -> np.ndarray | None:
    """``exclude`` plus the rows ``previous_scores`` calls likely positive (when both the
    scores and the threshold are given); overlaps are left to :class:`NegativeDraws`'s mask."""
    if previous_scores is None or threshold is None or pool is None:
        return exclude
    if np.shape(previous_scores) != (pool.shape[0],):
        raise DimensionMismatchError(
            f"previous_scores must hold one score per pool row, ({pool.shape[0]},); got {np.shape(previous_scores)}"
        )
    likely = likely_positive_rows(previous_scores, threshold)
    return likely if exclude is None else np.concatenate([np.asarray(exclude, dtype=np.int64), likely])


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads, restoring the old count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit(
    x: np.ndarray,
    examples: WeightedExamples,
    pool_features: np.ndarray | None,
    config: TrainConfig,
    progress: Progress | None,
    exclude: np.ndarray | None,
) -> TrainedModel:
    """The training loop proper, on validated float32 features ``x`` and their examples."""
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    pos, neg = torch.from_numpy(x[examples.positives]), torch.from_numpy(x[examples.negatives])
    odds = None if examples.uniform else (_share(examples.positive_weights), _share(examples.negative_weights))
    negatives = NegativeDraws(pool_features.shape[0], exclude) if pool_features is not None else None
    draw = _draw(pool_features, x.shape[1], config, negatives, rng)
    mean, std = _standardisation([pos, neg, draw])
    pos, neg = (pos - mean) / std, (neg - mean) / std
    draw = draw.sub_(mean).div_(std)  # in place: 500k x 512 float32 is 1 GB
    net = build_mlp(x.shape[1], config.hidden, config.dropout, generator, rng)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    losses: list[float] = []
    planned = config.max_epochs if config.stop_at_loss_fraction is not None else config.epochs
    for epoch in range(planned):
        if epoch and config.resample_negatives and pool_features is not None:
            draw = _draw(pool_features, x.shape[1], config, negatives, rng).sub_(mean).div_(std)
        losses.append(_run_epoch(net, optimiser, [pos, neg, draw], config.batch_size, rng, odds))
        if progress is not None:
            progress(epoch + 1, planned)
        if _reached_target(losses, config.stop_at_loss_fraction):
            break
    return _freeze(net, config, x.shape[1], mean, std, losses)


def _validated(
    features: np.ndarray, labels: np.ndarray, pool: np.ndarray | None, weights: np.ndarray | None
) -> tuple[np.ndarray, WeightedExamples]:
    """Float32 features and the weighted positives/negatives, after checking shapes and values."""
    if features.ndim != 2 or labels.shape != (features.shape[0],):
        raise DimensionMismatchError(
            f"features must be (n, d) and labels (n,); got {features.shape} and {labels.shape}"
        )
    if pool is not None and (pool.ndim != 2 or pool.shape[1] != features.shape[1]):
        raise DimensionMismatchError(f"pool_features must be (N, {features.shape[1]}), got {pool.shape}")
    if pool is not None and pool.shape[0] == 0:
        raise EmptyPoolError("pool_features has no rows to draw random negatives from")
    examples = split_targets(labels, weights)
    require_classes(examples, pool is not None)
    return np.ascontiguousarray(features, dtype=np.float32), examples


def _draw(
    pool: np.ndarray | None,
    width: int,
    config: TrainConfig,
    negatives: NegativeDraws | None,
    rng: np.random.Generator,
) -> torch.Tensor:
    """This epoch's random negatives (R, width) float32; empty when there is no pool."""
    if pool is None or negatives is None or config.random_negatives <= 0:
        return torch.empty((0, width), dtype=torch.float32)
    return read_rows(pool, negatives.draw(config.random_negatives, rng))


def _standardisation(parts: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and std (d,) float32 over the rows of all ``parts`` (n_i, d).

    L2-normalised embeddings have components of order 1/sqrt(d); standardising them
    gives the first layer unit-scale inputs. Sums run in float64 over 64k-row blocks, so
    no concatenated or float64 copy of a 500k-row draw is ever made.
    """
    width = parts[0].shape[1]
    total = sum(len(part) for part in parts)
    sums = torch.zeros(width, dtype=torch.float64)
    squares = torch.zeros(width, dtype=torch.float64)
    for part in parts:
        for block in torch.split(part, 65_536):
            wide = block.double()
            sums += wide.sum(dim=0)
            squares += (wide * wide).sum(dim=0)
    mean = sums / max(total, 1)
    if total < 2:
        return mean.float(), torch.ones(width)
    variance = ((squares - total * mean * mean) / (total - 1)).clamp_min(0.0)
    return mean.float(), variance.sqrt().float().clamp_min(_MIN_STD)


def _run_epoch(
    net: nn.Sequential,
    optimiser: torch.optim.Optimizer,
    sources: list[torch.Tensor],
    batch_size: int,
    rng: np.random.Generator,
    odds: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """One pass over the random negatives; returns the mean batch loss (BCE, nats).

    ``odds``: draw probabilities of the labeled positives and negatives (their weights,
    normalised per class); None draws them uniformly.
    """
    pos, neg, rand = sources
    plan = plan_epoch(batch_size, len(neg), len(rand))
    drawn = batch_indices(plan, len(pos), len(neg), len(rand), rng, odds)
    pos_idx, neg_idx, rand_idx = (torch.from_numpy(a) for a in drawn)
    target = _targets(plan)
    loss_fn = nn.BCEWithLogitsLoss()
    net.train()
    total = torch.zeros(())
    for step in range(plan.steps):
        batch = torch.cat([pos[pos_idx[step]], neg[neg_idx[step]], rand[rand_idx[step]]])
        loss = loss_fn(net(batch)[:, 0], target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        total += loss.detach()
    return float(total) / plan.steps


def _share(weights: np.ndarray) -> np.ndarray:
    """Weights (m,) as draw probabilities (m,) summing to 1."""
    out: np.ndarray = weights / weights.sum()
    return out


def _targets(plan: BatchPlan) -> torch.Tensor:
    """Batch targets (batch_size,): ones for the positive half, zeros for the rest."""
    target = torch.zeros(plan.batch_size)
    target[: plan.positives] = 1.0
    return target


def _reached_target(losses: list[float], fraction: float | None) -> bool:
    """Early stop: the last epoch's loss is at most ``fraction`` x the first epoch's."""
    return fraction is not None and len(losses) > 1 and losses[-1] <= fraction * losses[0]


def _freeze(
    net: nn.Sequential,
    config: TrainConfig,
    input_dim: int,
    mean: torch.Tensor,
    std: torch.Tensor,
    losses: list[float],
) -> TrainedModel:
    """Detach the trained weights into an immutable :class:`TrainedModel`."""
    layers = tuple((lin.weight.detach().clone(), lin.bias.detach().clone()) for lin in linear_layers(net))
    return TrainedModel(config, input_dim, mean, std, layers, tuple(losses))
