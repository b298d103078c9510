"""The MLP over embeddings, with dropout driven by an explicit ``torch.Generator``.

torch's ``nn.Dropout`` and default layer init draw from the process-global RNG,
which the in-process job runner shares between threads; an explicit generator keeps
a training run reproducible from its seed alone.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SeededDropout(nn.Module):
    """Inverted dropout whose masks come from ``generator`` (identity in eval mode)."""

    def __init__(self, p: float, generator: torch.Generator) -> None:
        super().__init__()
        self.p = p
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty_like(x).bernoulli_(1.0 - self.p, generator=self.generator)
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def build_mlp(
    input_dim: int, hidden: tuple[int, ...], dropout: float, generator: torch.Generator
) -> nn.Sequential:
    """Linear-ReLU-Dropout blocks then one output logit; weights initialised from ``generator``."""
    layers: list[nn.Module] = []
    width = input_dim
    for units in hidden:
        layers += [nn.Linear(width, units), nn.ReLU(), SeededDropout(dropout, generator)]
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
