"""Training configuration of the embedding classifier (the paper recipe and our fast default)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

#: Hidden layers of the first model of a concept (paper: one layer of 16 units).
INITIAL_HIDDEN: tuple[int, ...] = (16,)
#: Hidden layers of every later model (paper: three layers of 128 units).
LATER_HIDDEN: tuple[int, ...] = (128, 128, 128)


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

    Defaults are the fast recipe: the paper's layers, dropout, weight decay, BCE, Adam
    and 10 epochs, but 2,048 fresh random negatives per epoch (160 steps in all) and
    lr 1e-3 instead of 1e-4. Adam moves each weight by about ``lr`` per step whatever the
    loss scale, so ``lr x steps`` is what the recipe really fixes: 160 steps at 1e-4 stay
    under-fit (AUC-PR .57 vs .75 on the synthetic task), while the original's ~39k steps
    at 1e-4 memorise the 200 labeled positives (training loss -> 0.000) and score lower
    than 160 steps at 1e-3 on both the synthetic task and CIFAR-10 (docs/training.md).

    ``stop_at_loss_fraction``: when set, training runs until the mean training loss of
    an epoch falls to ``fraction`` x the first epoch's, capped at ``max_epochs``, and
    ``epochs`` is ignored. No validation set is used.

    ``threads``: torch intra-op threads while training. Fixed (not "all cores") so a
    seed gives the same weights on any machine, and 1 by default because batches of a
    few hundred rows gain nothing from a second thread while OpenMP spin-waits make them
    5-15x slower whenever another process holds a core.
    """

    hidden: tuple[int, ...] = INITIAL_HIDDEN
    dropout: float = 0.5
    weight_decay: float = 1e-4
    lr: float = 1e-3
    epochs: int = 10
    batch_size: int = 512
    random_negatives: int = 2_048
    resample_negatives: bool = True
    stop_at_loss_fraction: float | None = None
    max_epochs: int = 200
    seed: int = 0
    threads: int = 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (tuples become lists) for saving beside the weights."""
        data = asdict(self)
        data["hidden"] = list(self.hidden)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`."""
        fields = dict(data)
        fields["hidden"] = tuple(int(h) for h in fields["hidden"])
        return cls(**fields)


def initial_config(**overrides: Any) -> TrainConfig:
    """The first model of a concept: one hidden layer of 16 (paper recipe otherwise)."""
    return replace(TrainConfig(hidden=INITIAL_HIDDEN), **overrides)


def later_config(**overrides: Any) -> TrainConfig:
    """Every later model: three hidden layers of 128 (paper recipe otherwise)."""
    return replace(TrainConfig(hidden=LATER_HIDDEN), **overrides)


def original_config(**overrides: Any) -> TrainConfig:
    """The original recipe: one fixed draw of 500k random negatives, 3x128, Adam lr 1e-4.

    Kept for side-by-side comparison in ``benchmarks/al_scale.py``: with 512-row batches a
    quarter random, one epoch is 3,907 steps, 39k steps for 10 epochs.
    """
    base = TrainConfig(hidden=LATER_HIDDEN, lr=1e-4, random_negatives=500_000, resample_negatives=False)
    return replace(base, **overrides)
