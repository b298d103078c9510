"""The MLP over embeddings, with weights and dropout masks from explicit generators.

torch's ``nn.Dropout`` and default layer init draw from the process-global RNG,
which the in-process job runner shares between threads; explicit generators keep a
training run reproducible from its seed alone. Dropout masks come from numpy's PCG64 in
bulk (16 random bits per unit): torch's ``bernoulli_`` draws element by element from
MT19937 and measured 30x slower, the largest cost of a training step.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


class SeededDropout(nn.Module):
    """Inverted dropout whose masks come from ``rng`` (identity in eval mode).

    A unit is dropped when its 16-bit draw is below ``round(p * 65536)``: exact for
    p = 0.5, within 1/65536 of p otherwise.
    """

    def __init__(self, p: float, rng: np.random.Generator) -> None:
        super().__init__()
        self.p = p
        self.rng = rng
        self._threshold = round(p * 65_536)
        self._scale = 65_536 / (65_536 - self._threshold) if self._threshold < 65_536 else 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self._threshold == 0:
            return x
        draws = self.rng.integers(0, 65_536, size=x.shape, dtype=np.uint16)
        keep = np.where(draws >= self._threshold, np.float32(self._scale), np.float32(0.0))
        return x * torch.from_numpy(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def build_mlp(
    input_dim: int,
    hidden: tuple[int, ...],
    dropout: float,
    generator: torch.Generator,
    rng: np.random.Generator,
) -> nn.Sequential:
    """Linear-ReLU-Dropout blocks then one output logit; weights initialised from
    ``generator``, dropout masks drawn from ``rng``."""
    layers: list[nn.Module] = []
    width = input_dim
    for units in hidden:
        layers += [nn.Linear(width, units), nn.ReLU(), SeededDropout(dropout, rng)]
        width = units
    layers.append(nn.Linear(width, 1))
    net = nn.Sequential(*layers)
    for module in net:
        if isinstance(module, nn.Linear):
            _init_linear(module, generator)
    return net


def _init_linear(layer: nn.Linear, generator: torch.Generator) -> None:
    """torch's default Linear init (uniform +-1/sqrt(fan_in)), but from ``generator``."""
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)


def linear_layers(net: nn.Sequential) -> list[nn.Linear]:
    """The Linear layers of ``net`` in order (the only layers holding parameters)."""
    return [m for m in net if isinstance(m, nn.Linear)]
