"""Choosing, fitting and calibrating the head, with no validation set beyond the labels.

The training rows are the labeled items (soft targets expanded into weighted positive
and negative rows, :mod:`targets`) and one draw of random pool rows presumed negative,
with the classes balanced. ``cv_folds``-fold cross-validation over those rows (labeled
items and random rows each split into folds; an item's two rows stay together) gives
held-out logits for every candidate:

* the linear head at every C of ``linear_cs`` (one warm-started path per fold), and
* for ``head="auto"`` with at least ``mlp_min_labels`` labeled items, or ``head="mlp"``,
  the MLP (its random negatives drawn from the pool minus the held-out fold's rows), on
  the first ``mlp_cv_folds`` folds only: it costs ~50 linear fits.

The linear head's C is the one whose Platt-scaled held-out logits have the lowest
weighted cross-entropy; between the linear head and the MLP, the higher held-out
average precision wins (on the MLP's validation folds). The winner is refitted on every row, and its Platt scaling (plus,
with ``pool_prior_shift``, the pool-prior shift; :mod:`calibration`) becomes the
model's calibration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from modeling.engine.metrics import average_precision
from modeling.engine.trainer.calibration import IDENTITY, calibration, platt, weighted_log_loss
from modeling.engine.trainer.config import TrainConfig
from modeling.engine.trainer.linear import fit_path, linear_logits
from modeling.engine.trainer.mlp import fit_mlp, standardisation
from modeling.engine.trainer.model import TrainedModel
from modeling.engine.trainer.sampling import NegativeDraws, read_rows
from modeling.engine.trainer.targets import WeightedExamples, split_targets

Progress = Callable[[int, int], None]
#: Uniform pool rows whose logits estimate the pool's positive rate (calibration).
PRIOR_SAMPLE = 4_096


@dataclass(frozen=True)
class Design:
    """The rows every candidate head is trained and validated on.

    ``x`` (m, d) float32 raw rows: the labeled rows (``item`` >= 0, the labeled item they
    come from) then the random pool rows (``item`` = -1, pool row ``pool_row``); ``y``
    (m,) 0/1; ``w`` (m,) class-balanced weights summing to m, ``raw_w`` (m,) the rows'
    own weights; ``fold`` (m,) in [0, K).
    """

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    item: np.ndarray
    pool_row: np.ndarray
    fold: np.ndarray
    folds: int
    raw_w: np.ndarray


def fit_head(
    x: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray | None,
    examples: WeightedExamples,
    pool: np.ndarray | None,
    config: TrainConfig,
    progress: Progress | None,
    exclude: np.ndarray | None,
) -> TrainedModel:
    """The model ``config.head`` asks for, trained on validated ``x`` (n, d) float32 with
    targets ``labels`` (n,) / ``weights`` (n,) already split into ``examples``."""
    if config.head == "mlp" and not config.calibrate:  # the plain network (original recipe)
        return fit_mlp(x, examples, pool, config, progress, exclude)
    rng = np.random.default_rng([config.seed, 17])
    design = _design(x, examples, pool, config, exclude, rng)
    mean, std = (t.numpy() for t in standardisation([torch.from_numpy(design.x)]))
    z = (design.x - mean) / std
    use_mlp = config.head == "mlp" or (config.head == "auto" and len(x) >= config.mlp_min_labels)
    steps = design.folds + (min(config.mlp_cv_folds, design.folds) if use_mlp else 0) + 1
    tick = _ticker(progress, steps)
    scores: dict[str, Any] = {}
    head_aps: dict[str, float] = {}
    held_out: dict[str, np.ndarray] = {}
    rows = np.ones(len(design.y), dtype=bool)  # the rows the chosen head's logits cover
    chosen = _fallback(config)
    if design.folds >= 2:
        if config.head != "mlp":
            held_out.update(_linear_cv(z, design, config.linear_cs, tick))
            scores = {name: _calibrated_loss(logits, design, rows) for name, logits in held_out.items()}
            chosen = min(scores, key=lambda k: scores[k])
        if use_mlp:
            # The MLP costs ~50x a linear fit, so it is validated on the first
            # ``mlp_cv_folds`` folds only, against the best linear C on the same rows.
            mlp_rows = design.fold < min(config.mlp_cv_folds, design.folds)
            held_out["mlp"] = _mlp_cv(x, labels, weights, pool, design, config, exclude, tick)
            scores["mlp"] = _calibrated_loss(held_out["mlp"], design, mlp_rows)
            if config.head == "mlp":
                chosen, rows = "mlp", mlp_rows
            elif chosen in held_out:
                # Between heads, the held-out ranking decides (AP, each row at its own
                # weight): the task is ranking the pool, and on a concept that is not
                # linearly separable the balanced cross-entropy is dominated by the easy
                # random rows, where a linear head is as good as any.
                aps = {name: _held_out_ap(held_out[name], design, mlp_rows) for name in (chosen, "mlp")}
                head_aps = {"linear": round(aps[chosen], 5), "mlp": round(aps["mlp"], 5)}
                if aps["mlp"] > aps[chosen]:
                    chosen, rows = "mlp", mlp_rows
    model = _refit(chosen, x, examples, pool, config, exclude, design, z, mean, std, progress)
    tick()
    cal = IDENTITY
    if config.calibrate and chosen in held_out:
        sample = _prior_sample_logits(model, pool, rng) if config.pool_prior_shift else None
        cal = calibration(held_out[chosen][rows], design.y[rows], design.w[rows], sample)
    selection = {
        "head": model.head,
        "C": float(chosen[2:]) if chosen.startswith("C=") else None,
        "folds": design.folds,
        "held_out_log_loss": {k: round(v, 5) for k, v in scores.items()},
        "held_out_ap": head_aps,
        "pool_prior": cal.prior,
    }
    return replace(model, calibration=cal, selection=selection)


def _fallback(config: TrainConfig) -> str:
    """Too few labeled items to cross-validate: the MLP if asked for, else the middle C."""
    if config.head == "mlp":
        return "mlp"
    return f"C={config.linear_cs[len(config.linear_cs) // 2]}"


def _design(
    x: np.ndarray,
    examples: WeightedExamples,
    pool: np.ndarray | None,
    config: TrainConfig,
    exclude: np.ndarray | None,
    rng: np.random.Generator,
) -> Design:
    """Labeled rows plus ``config.random_negatives`` random pool rows, weighted, in folds."""
    rows, y_lab, w_lab = examples.hard()
    picked = np.empty(0, np.int64)
    if pool is not None and config.random_negatives > 0:
        picked = NegativeDraws(pool.shape[0], exclude).draw(config.random_negatives, rng)
    random_x = read_rows(pool, picked).numpy() if len(picked) and pool is not None else np.empty((0, x.shape[1]), np.float32)
    y = np.concatenate([y_lab, np.zeros(len(picked), np.int64)])
    raw_w = np.concatenate([w_lab, np.ones(len(picked))])
    pos_mass, neg_mass = raw_w[y == 1].sum(), raw_w[y == 0].sum()
    w = np.where(y == 1, raw_w * neg_mass / pos_mass, raw_w) if neg_mass > 0 else raw_w
    w = w * len(w) / w.sum()
    folds = _fold_count(examples, len(picked), config.cv_folds)
    item_fold = _stratified_folds(np.isin(np.arange(len(x)), examples.positives), folds, rng)
    random_fold = rng.permutation(len(picked)) % max(folds, 1)
    return Design(
        x=np.concatenate([x[rows], random_x]).astype(np.float32, copy=False),
        y=y,
        w=w,
        item=np.concatenate([rows, np.full(len(picked), -1)]),
        pool_row=np.concatenate([np.full(len(rows), -1), picked]),
        fold=np.concatenate([item_fold[rows], random_fold]),
        folds=folds,
        raw_w=raw_w,
    )


def _fold_count(examples: WeightedExamples, n_random: int, wanted: int) -> int:
    """Folds such that every training split keeps a positive and a negative item."""
    pos_items = len(np.unique(examples.positives))
    neg_items = len(np.unique(examples.negatives)) + n_random
    return int(min(wanted, pos_items, neg_items)) if min(pos_items, neg_items) >= 2 else 0


def _stratified_folds(is_positive: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """A fold (n,) per item, positives and the rest each dealt round-robin in random order."""
    out = np.zeros(len(is_positive), np.int64)
    if folds < 2:
        return out
    for group in (np.flatnonzero(is_positive), np.flatnonzero(~is_positive)):
        out[rng.permutation(group)] = np.arange(len(group)) % folds
    return out


def _linear_cv(z: np.ndarray, design: Design, cs: tuple[float, ...], tick: Callable[[], None]) -> dict[str, np.ndarray]:
    """Held-out logits (m,) of the linear head at every C, keyed ``"C=<value>"``."""
    out = np.zeros((len(cs), len(z)))
    for f in range(design.folds):
        train, test = design.fold != f, design.fold == f
        for i, (coef, intercept) in enumerate(fit_path(z[train], design.y[train], design.w[train], cs)):
            out[i, test] = linear_logits(z[test], coef, intercept)
        tick()
    return {f"C={c}": out[i] for i, c in enumerate(cs)}


def _mlp_cv(
    x: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray | None,
    pool: np.ndarray | None,
    design: Design,
    config: TrainConfig,
    exclude: np.ndarray | None,
    tick: Callable[[], None],
) -> np.ndarray:
    """Held-out logits (m,) of the MLP on the first ``config.mlp_cv_folds`` folds (zeros
    elsewhere): per fold, trained on the other folds' items, its random negatives never
    drawn from the held-out fold's random rows."""
    out = np.zeros(len(design.y))
    item_fold = np.full(len(x), -1)
    item_fold[design.item[design.item >= 0]] = design.fold[design.item >= 0]
    mlp_config = replace(config, head="mlp", calibrate=False)
    for f in range(min(config.mlp_cv_folds, design.folds)):
        keep = np.flatnonzero(item_fold != f)
        sub = split_targets(labels[keep], None if weights is None else weights[keep])
        held_rows = design.pool_row[(design.fold == f) & (design.pool_row >= 0)]
        blocked = held_rows if exclude is None else np.concatenate([np.asarray(exclude, np.int64), held_rows])
        model = fit_mlp(x[keep], sub, pool, mlp_config, None, blocked)
        test = design.fold == f
        out[test] = model.predict_logits(design.x[test])
        tick()
    return out


def _held_out_ap(logits: np.ndarray, design: Design, rows: np.ndarray) -> float:
    """Average precision of held-out ``logits`` on ``rows``, weighted by the rows' own
    (unbalanced) weights: labeled positives against labeled negatives and random rows."""
    return average_precision(design.y[rows], logits[rows], design.raw_w[rows])


def _calibrated_loss(logits: np.ndarray, design: Design, rows: np.ndarray) -> float:
    """Weighted cross-entropy of held-out ``logits`` on ``rows`` (m,) bool after Platt
    scaling (so heads are compared on how well they separate, not on how their raw
    logits happen to scale)."""
    z, y, w = logits[rows], design.y[rows], design.w[rows]
    scale, shift = platt(z, y, w)
    return weighted_log_loss(z * scale + shift, y, w)


def _refit(
    chosen: str,
    x: np.ndarray,
    examples: WeightedExamples,
    pool: np.ndarray | None,
    config: TrainConfig,
    exclude: np.ndarray | None,
    design: Design,
    z: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    progress: Progress | None,
) -> TrainedModel:
    """The chosen head trained on every row (the MLP with its own fresh negatives)."""
    if chosen == "mlp":
        return fit_mlp(x, examples, pool, replace(config, head="mlp", calibrate=False), None, exclude)
    c = float(chosen[2:])
    path = tuple(v for v in config.linear_cs if v <= c) or (c,)
    coef, intercept = fit_path(z, design.y, design.w, path)[-1]
    layer = (torch.from_numpy(coef[None, :].copy()), torch.tensor([intercept], dtype=torch.float32))
    return TrainedModel(config, x.shape[1], torch.from_numpy(mean), torch.from_numpy(std), (layer,))


def _prior_sample_logits(model: TrainedModel, pool: np.ndarray | None, rng: np.random.Generator) -> np.ndarray | None:
    """Uncalibrated logits of a uniform sample of pool rows (None without a pool)."""
    if pool is None:
        return None
    rows = NegativeDraws(pool.shape[0]).draw(PRIOR_SAMPLE, rng)
    return model.predict_logits(read_rows(pool, rows).numpy())


def _ticker(progress: Progress | None, total: int) -> Callable[[], None]:
    """A callable reporting one more of ``total`` steps to ``progress`` each call."""
    done = [0]

    def tick() -> None:
        done[0] = min(done[0] + 1, total)
        if progress is not None:
            progress(done[0], total)

    return tick
