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
from dataclasses import dataclass, field

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


#: Newton steps after trust-ncg when it stops before the gradient tolerance (see :func:`fit`).
NEWTON_POLISH = 3


def fit(
    spec: HeadSpec,
    x: torch.Tensor,
    y: torch.Tensor,
    start: torch.Tensor | None = None,
    *,
    tolerance: float = 1e-10,
    max_iter: int = 200,
) -> torch.Tensor:
    """Parameters (P,) minimising :func:`objective` on (x, y), from ``start`` (a warm start)
    or :func:`initial_params` (cold), by scipy's trust-region Newton-CG (``trust-ncg``) with
    exact gradients and Hessian-vector products.

    ``tolerance`` bounds the gradient norm at the returned point: influence functions assume
    the gradient is zero there. Newton converges quadratically, so a warm refit after a small
    move of x* takes one or two Newton steps; the trust region keeps a hidden layer's
    indefinite Hessian safe.
    """
    from scipy.optimize import minimize

    first = initial_params(spec) if start is None else start.detach()
    data = prepare(spec, x, y)

    def value_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = objective_and_gradient(spec, torch.from_numpy(theta), data)
        return value, grad.numpy()

    def product(theta: np.ndarray, vector: np.ndarray) -> np.ndarray:
        return hessian_vector(spec, torch.from_numpy(theta), data, torch.from_numpy(vector)).numpy()

    result = minimize(value_and_gradient, first.numpy().copy(), jac=True, hessp=product, method="trust-ncg",
                      options={"gtol": tolerance, "maxiter": max_iter})
    theta, gradient = np.asarray(result.x, dtype=np.float64), np.asarray(result.jac, dtype=np.float64)
    # Near the optimum the objective's decrease falls below its rounding and trust-ncg stops
    # ("bad approximation"; seen at a gradient norm of 1e-9 for a 1e-13 target). Plain Newton
    # steps judge by the gradient norm, which stays accurate there: take them while it falls.
    for _ in range(NEWTON_POLISH if np.linalg.norm(gradient) > tolerance else 0):
        from scipy.sparse.linalg import LinearOperator, cg

        operator = LinearOperator((theta.size, theta.size), matvec=lambda v, t=theta: product(t, v), dtype=np.float64)
        step, _ = cg(operator, -gradient, rtol=1e-10, maxiter=10 * theta.size)
        candidate = theta + step
        _, new_gradient = value_and_gradient(candidate)
        if not np.linalg.norm(new_gradient) < np.linalg.norm(gradient):
            break
        theta, gradient = candidate, new_gradient
        if np.linalg.norm(gradient) <= tolerance:
            break
    return torch.from_numpy(theta)


@dataclass(frozen=True)
class Rows:
    """Training rows prepared once for many gradient and Hessian-vector evaluations:
    raw features ``x`` (n, d), classes ``y`` (n,) and, for the logistic head, the
    standardised inputs with a bias column ``a`` (n, d + 1)."""

    x: torch.Tensor
    y: torch.Tensor
    a: torch.Tensor | None
    #: The last (params, probabilities) the logistic HVP computed: CG and the trust-region
    #: inner loop call it many times at one point, and the probabilities cost a matmul.
    cache: dict[str, torch.Tensor] = field(default_factory=dict)

    def probabilities(self, spec: HeadSpec, params: torch.Tensor) -> torch.Tensor:
        """softmax(A [W | b]^T) (n, C) at ``params``, memoised for the last params seen."""
        assert self.a is not None
        last = self.cache.get("params")
        if last is None or not torch.equal(last, params):
            self.cache["params"] = params.clone()
            self.cache["probs"] = torch.softmax(self.a @ _logistic_weights(spec, params).T, dim=1)
        return self.cache["probs"]


def prepare(spec: HeadSpec, x: torch.Tensor, y: torch.Tensor) -> Rows:
    """:class:`Rows` for ``x`` (n, d) and ``y`` (n,)."""
    return Rows(x, y, None if spec.hidden else _augmented(spec, x))


def _augmented(spec: HeadSpec, x: torch.Tensor) -> torch.Tensor:
    """Standardised features with a constant 1 column (n, d + 1): the logistic head's input."""
    h = (x - spec.mean) / spec.std
    return torch.cat([h, torch.ones((h.shape[0], 1), dtype=h.dtype)], dim=1)


def _logistic_weights(spec: HeadSpec, params: torch.Tensor) -> torch.Tensor:
    """The logistic head's parameters as one (C, d + 1) matrix [W | b]."""
    d, c = spec.input_dim, spec.n_classes
    return torch.cat([params[: c * d].view(c, d), params[c * d :].view(c, 1)], dim=1)


def _flat(spec: HeadSpec, matrix: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_logistic_weights`: (C, d + 1) -> (P,)."""
    return torch.cat([matrix[:, : spec.input_dim].reshape(-1), matrix[:, spec.input_dim]])


def objective_and_gradient(spec: HeadSpec, params: torch.Tensor, rows: Rows) -> tuple[float, torch.Tensor]:
    """:func:`objective` and its gradient (P,). The logistic head has them in closed form
    (``A^T (P - Y) / n``: two matmuls, no autograd graph); a hidden layer uses autograd."""
    x, y, a = rows.x, rows.y, rows.a
    if a is None:
        p = params.detach().requires_grad_(True)
        value = objective(spec, p, x, y)
        (grad,) = torch.autograd.grad(value, p)
        return float(value.detach()), grad.detach()
    z = a @ _logistic_weights(spec, params).T
    log_probs = torch.log_softmax(z, dim=1)
    n = x.shape[0]
    value = -log_probs[torch.arange(n), y].mean() + 0.5 * spec.l2 * params.dot(params)
    residual = log_probs.exp()
    residual[torch.arange(n), y] -= 1.0
    return float(value), _flat(spec, residual.T @ a) / n + spec.l2 * params


def gradient(spec: HeadSpec, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient (P,) of :func:`objective` at ``params``."""
    return objective_and_gradient(spec, params, prepare(spec, x, y))[1]


def hessian_vector(spec: HeadSpec, params: torch.Tensor, rows: Rows, vector: torch.Tensor) -> torch.Tensor:
    """Hessian-vector product (P,) of :func:`objective`, H never formed.

    Logistic head, closed form: with probabilities P (n, C), inputs A (n, d + 1) and V the
    vector as (C, d + 1), ``Z = A V^T`` and ``H v = [(P * Z - P * rowsum(P * Z))^T A] / n
    + l2 v`` (the softmax Jacobian applied per row). A hidden layer: double backward.
    """
    x, y, a = rows.x, rows.y, rows.a
    if a is None:
        p = params.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(spec, p, x, y), p, create_graph=True)
        (product,) = torch.autograd.grad(grad, p, grad_outputs=vector)
        return product.detach()
    probs = rows.probabilities(spec, params)
    pz = probs * (a @ _logistic_weights(spec, vector).T)
    mixed = pz - probs * pz.sum(dim=1, keepdim=True)
    return _flat(spec, mixed.T @ a) / x.shape[0] + spec.l2 * vector


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
