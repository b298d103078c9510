"""Training configuration of the embedding classifier (the paper recipe and our fast default)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

#: Hidden layers of the first model of a concept (paper: one layer of 16 units).
INITIAL_HIDDEN: tuple[int, ...] = (16,)
#: Hidden layers of every later model (paper: three layers of 128 units).
LATER_HIDDEN: tuple[int, ...] = (128, 128, 128)
#: Inverse L2 strengths C tried for the linear head (half decades, 1e-4 .. 1).
LINEAR_CS: tuple[float, ...] = tuple(float(c) for c in 10.0 ** np.arange(-4.0, 0.01, 0.5))
#: Heads ``TrainConfig.head`` may name.
HEADS = ("auto", "linear", "mlp")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run.

    An *epoch* is one pass over that epoch's draw of ``random_negatives`` pool rows.
    Every batch of ``batch_size`` rows holds half labeled positives, a quarter
    labeled negatives and a quarter random pool negatives, so labeled items are
    oversampled (drawn with replacement) to keep that composition for the whole pass.
    With ``resample_negatives`` a fresh draw is taken each epoch (our default: as good
    as one big fixed draw and far cheaper); without it one draw is reused for every
    epoch (the original recipe, with ``random_negatives=500_000``).

    Defaults are our recipe: the paper's layers, dropout, weight decay, BCE, Adam and 10
    epochs, but 2,048 fresh random negatives per epoch (160 steps in all) at lr 3e-4
    instead of one draw of 500k at 1e-4 (39k steps), and random negatives drawn only
    from pool items the previous model does not already call positive. Adam moves each
    weight by about ``lr`` per step whatever the loss scale, so ``lr x steps`` is what the
    recipe really fixes; the original's 39k steps memorise the labeled positives and
    rank held-out items worse (docs/training.md has the measurements).

    ``likely_positive_threshold``: random pool rows are *presumed* negative, which holds
    for a rare concept but not for a common one (a union such as "vehicle" is 40 % of
    CIFAR-10): the model then learns that typical positives are negatives, and the more
    it trains the worse it gets. When ``train`` is given the previous model's pool scores
    (or zero-shot scores for the first model), rows scoring at least this are kept out of
    the random negatives. None turns it off (the original recipe).

    ``stop_at_loss_fraction``: when set, training runs until the mean training loss of
    an epoch falls to ``fraction`` x the first epoch's, capped at ``max_epochs``, and
    ``epochs`` is ignored. No validation set is used.

    ``head``: ``"mlp"`` is the network above; ``"linear"`` is L2-regularised logistic
    regression on standardised features (scikit-learn), its strength C chosen from
    ``linear_cs`` by ``cv_folds``-fold cross-validation on the labeled items and the
    random negatives; ``"auto"`` (default) also cross-validates the MLP, once at least
    ``mlp_min_labels`` items are labeled (on its first ``mlp_cv_folds`` folds, against
    the best linear C on the same rows), and keeps whichever head predicts the held-out
    rows better. ``calibrate``: a Platt scaling fitted on the chosen head's held-out
    predictions (classes balanced) is folded into the output layer, so a score is a
    calibrated probability under equal class odds and 0.5 is where a held-out positive
    and negative are equally likely. ``pool_prior_shift`` also moves it to the pool's
    positive rate estimated by Saerens et al.'s EM; measured, that rate came out about
    half the true one and F1 at 0.5 fell (docs/training.md), so it is off by default.

    ``threads``: torch intra-op threads while training. Fixed (not "all cores") so a
    seed gives the same weights on any machine, and 1 by default because batches of a
    few hundred rows gain nothing from a second thread while OpenMP spin-waits make them
    5-15x slower whenever another process holds a core.
    """

    hidden: tuple[int, ...] = INITIAL_HIDDEN
    dropout: float = 0.5
    weight_decay: float = 1e-4
    lr: float = 3e-4
    epochs: int = 10
    batch_size: int = 512
    random_negatives: int = 2_048
    resample_negatives: bool = True
    likely_positive_threshold: float | None = 0.5
    stop_at_loss_fraction: float | None = None
    max_epochs: int = 200
    seed: int = 0
    threads: int = 1
    head: str = "auto"
    linear_cs: tuple[float, ...] = LINEAR_CS
    cv_folds: int = 3
    mlp_min_labels: int = 200
    mlp_cv_folds: int = 1
    calibrate: bool = True
    pool_prior_shift: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (tuples become lists) for saving beside the weights."""
        data = asdict(self)
        data["hidden"] = list(self.hidden)
        data["linear_cs"] = list(self.linear_cs)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`."""
        fields = dict(data)
        fields["hidden"] = tuple(int(h) for h in fields["hidden"])
        if "linear_cs" in fields:
            fields["linear_cs"] = tuple(float(c) for c in fields["linear_cs"])
        if "head" not in fields:  # files written before the linear head existed
            fields.update(head="mlp", calibrate=False)
        return cls(**fields)


def initial_config(**overrides: Any) -> TrainConfig:
    """The first model of a concept: one hidden layer of 16 (paper recipe otherwise)."""
    return replace(TrainConfig(hidden=INITIAL_HIDDEN), **overrides)


def later_config(**overrides: Any) -> TrainConfig:
    """Every later model: three hidden layers of 128 (paper recipe otherwise)."""
    return replace(TrainConfig(hidden=LATER_HIDDEN), **overrides)


def original_config(**overrides: Any) -> TrainConfig:
    """The original recipe: one fixed draw of 500k random negatives, 3x128, Adam lr 1e-4,
    every random row presumed negative.

    Kept for side-by-side comparison in ``benchmarks/al_scale.py``: with 512-row batches a
    quarter random, one epoch is 3,907 steps, 39k steps for 10 epochs.
    """
    base = TrainConfig(hidden=LATER_HIDDEN, lr=1e-4, random_negatives=500_000, resample_negatives=False,
                       likely_positive_threshold=None, head="mlp", calibrate=False)
    return replace(base, **overrides)
