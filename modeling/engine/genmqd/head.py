"""The small classifier query synthesis refits: a softmax head (optionally one tanh hidden
layer) on frozen features, written over one flat parameter vector so that torch autograd
gives its gradient, Hessian-vector products and mixed input-parameter derivatives.

It is ours on purpose, not the studio's ``TrainedModel``: synthesis refits it hundreds of
times, needs a twice-differentiable loss with a unique minimum (a convex L2-regularised
multinomial logistic regression by default, as in the GenMQD paper), and must not change
when the studio's classifier recipe does.

Everything runs in float64: conjugate gradients and the finite-difference checks of the
influence are far better conditioned there, and at studio sizes (a few hundred rows,
1280-d features, 2-10 classes) the cost is milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional

from modeling.engine.errors import DimensionMismatchError, InvalidLabelError, NotEnoughLabelsError

DTYPE = torch.float64
#: Floor on per-dimension std: constant feature dimensions must not blow up the standardisation.
_MIN_STD = 1e-6


@dataclass(frozen=True)
class HeadSpec:
    """Shape and regularisation of the head.

    input_dim: d, width of the (raw, unstandardised) features.
    n_classes: C >= 2 (the studio's yes/no concept is C = 2).
    hidden: () for multinomial logistic regression, (h,) for one tanh layer of h units
        (tanh, not ReLU: the influence needs second derivatives).
    l2: weight of ``(l2 / 2) * |theta|^2`` added to the mean cross-entropy; it makes the
        logistic objective strictly convex, so every refit finds the same minimum.
    mean, std: (d,) centring and scale applied inside the head (fixed, not parameters).
        The scale is one number for all dimensions (the RMS of the centred features):
        per-dimension standardisation on a few dozen rows divides near-constant CNN
        feature dimensions by near-zero stds, and the influence with respect to x* then
        explodes along exactly the dimensions the data says least about.
    """

    input_dim: int
    n_classes: int
    hidden: tuple[int, ...]
    l2: float
    mean: torch.Tensor
    std: torch.Tensor

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """(out, in) of every linear layer, input to output."""
        widths = [self.input_dim, *self.hidden, self.n_classes]
        return list(zip(widths[1:], widths[:-1]))

    @property
    def n_params(self) -> int:
        return sum(out * (inp + 1) for out, inp in self.shapes)

    def __repr__(self) -> str:
        return f"HeadSpec(d={self.input_dim}, classes={self.n_classes}, hidden={self.hidden}, l2={self.l2:g})"


def head_spec(features: np.ndarray, n_classes: int, hidden: tuple[int, ...] = (), l2: float | None = None) -> HeadSpec:
    """A spec centred on the mean of ``features`` (n, d) and scaled by their RMS deviation.

    ``l2=None`` takes ``1 / n``: mean cross-entropy + ``|theta|^2 / (2n)`` is the summed
    cross-entropy + ``|theta|^2 / 2`` scaled by 1/n, scikit-learn's LogisticRegression(C=1).
    """
    x = torch.as_tensor(np.asarray(features), dtype=DTYPE)
    if x.ndim != 2 or x.shape[0] == 0:
        raise DimensionMismatchError(f"features must be a non-empty (n, d) array, got {tuple(x.shape)}")
    mean = x.mean(dim=0)
    rms = float(((x - mean) ** 2).mean().sqrt()) if x.shape[0] > 1 else 1.0
    std = torch.full((x.shape[1],), max(rms, _MIN_STD), dtype=DTYPE)
    return HeadSpec(x.shape[1], n_classes, tuple(hidden), 1.0 / x.shape[0] if l2 is None else l2, mean, std)


def initial_params(spec: HeadSpec, seed: int = 0) -> torch.Tensor:
    """Starting parameters (P,): zeros for logistic regression (the objective is convex, any
    start reaches the one minimum); a seeded uniform +-1/sqrt(fan_in) init with hidden layers."""
    if not spec.hidden:
        return torch.zeros(spec.n_params, dtype=DTYPE)
    generator = torch.Generator().manual_seed(seed)
    parts = []
    for out, inp in spec.shapes:
        bound = 1.0 / math.sqrt(inp)
        parts.append((torch.rand(out * (inp + 1), generator=generator, dtype=DTYPE) * 2 - 1) * bound)
    return torch.cat(parts)


def logits(spec: HeadSpec, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Class logits (n, C) of raw features ``x`` (n, d) under flat ``params`` (P,)."""
    h = (x - spec.mean) / spec.std
    offset = 0
    for index, (out, inp) in enumerate(spec.shapes):
        weight = params[offset : offset + out * inp].view(out, inp)
        bias = params[offset + out * inp : offset + out * (inp + 1)]
        offset += out * (inp + 1)
        h = functional.linear(h, weight, bias)
        if index < len(spec.shapes) - 1:
            h = torch.tanh(h)
    return h


def data_loss(spec: HeadSpec, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats) of rows ``x`` (n, d) with integer classes ``y`` (n,)."""
    return functional.cross_entropy(logits(spec, params, x), y)


def objective(spec: HeadSpec, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The training objective: mean cross-entropy plus ``(l2 / 2) |params|^2``."""
    return data_loss(spec, params, x, y) + 0.5 * spec.l2 * params.dot(params)


def fit(
    spec: HeadSpec,
    x: torch.Tensor,
    y: torch.Tensor,
    start: torch.Tensor | None = None,
    *,
    tolerance: float = 1e-10,
    max_iter: int = 500,
) -> torch.Tensor:
    """Parameters (P,) minimising :func:`objective` on (x, y), by full-batch L-BFGS (torch's,
    strong-Wolfe line search) from ``start`` (warm start) or :func:`initial_params` (cold).

    ``tolerance`` bounds the gradient's max-norm at the returned point: influence functions
    assume the gradient is zero there, so refits run to a tight tolerance.
    """
    params = (initial_params(spec) if start is None else start.detach().clone()).requires_grad_(True)
    optimiser = torch.optim.LBFGS([params], lr=1.0, max_iter=max_iter, tolerance_grad=tolerance,
                                  tolerance_change=1e-14, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        value = objective(spec, params, x, y)
        value.backward()  # type: ignore[no-untyped-call]
        return value

    optimiser.step(closure)  # type: ignore[no-untyped-call]
    return _polish(spec, params.detach(), x, y, tolerance)


def gradient(spec: HeadSpec, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient (P,) of :func:`objective` at ``params``."""
    p = params.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(objective(spec, p, x, y), p)
    return grad.detach()


def _polish(spec: HeadSpec, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, tolerance: float,
            steps: int = 4) -> torch.Tensor:
    """A few Newton steps (H^-1 g by CG) after L-BFGS, which stalls near 1e-9 on its change
    tolerance: influence needs the gradient at the refit to be really zero. A step that does
    not lower the objective (an indefinite H with a hidden layer) is not taken."""
    from modeling.engine.genmqd.influence import inverse_hvp

    for _ in range(steps):
        grad = gradient(spec, params, x, y)
        if float(grad.abs().max()) <= tolerance:
            break
        solve = inverse_hvp(spec, params, x, y, grad, tolerance=1e-10, max_iter=200)
        candidate = params - solve.solution
        with torch.no_grad():
            if not solve.converged or objective(spec, candidate, x, y) > objective(spec, params, x, y):
                break
        params = candidate
    return params


def as_training_data(features: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Float64 features (n, d) and int64 labels (n,) after checking shapes and label range."""
    x = torch.as_tensor(np.asarray(features, dtype=np.float64))
    y = torch.as_tensor(np.asarray(labels).astype(np.int64))
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise DimensionMismatchError(f"features must be (n, d) and labels (n,); got {tuple(x.shape)} and {tuple(y.shape)}")
    if len(y) == 0:
        raise NotEnoughLabelsError("query synthesis needs labelled rows")
    if int(y.min()) < 0 or int(y.max()) >= n_classes:
        raise InvalidLabelError(f"labels must lie in 0..{n_classes - 1}")
    return x, y
