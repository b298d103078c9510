"""Influence of perturbing one training input on the validation loss (Koh & Liang, ICML 2017),
with ``H^-1 v`` by conjugate gradients over Hessian-vector products: H is never formed.

For a head fitted on ``N`` rows (the labelled set L plus the synthetic row z* = (x*, y*))
to ``theta`` minimising ``R(theta) = (1/N) sum_i l(z_i) + (l2/2)|theta|^2``, with
``H = hessian(R)`` and the validation gradient ``g_V = (1/|V|) sum_v grad_theta l(z_v)``:

    I_pert(x*) = -(1/|V|) sum_v grad_theta l(z_v)^T H^-1 grad_x grad_theta l(z*)
               = -grad_x [ grad_theta l(z*)^T s ],   s = H^-1 g_V   (one CG solve)

(the second line moves the mixed derivative onto one backward pass through x*: no (P, d)
matrix is built). Refitting on L with x* moved by ``delta`` changes the validation loss by
about ``I_pert . delta / N``: ``I_pert / N`` is the derivative of the validation loss of the
refitted head with respect to x* (implicit function theorem), and a synthesis step moves x*
along ``-I_pert``, downhill. ``tests/modeling/test_genmqd.py`` checks both against finite
differences of refits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, cg

from modeling.engine.genmqd.head import DTYPE, HeadSpec, data_loss, hessian_vector, prepare

#: Added to H before solving: 0 is exact for the strictly convex logistic head; a hidden
#: layer can leave H indefinite away from a minimum, and damping keeps CG well-posed.
DEFAULT_DAMPING = 0.0
DEFAULT_CG_TOLERANCE = 1e-8
DEFAULT_CG_ITERATIONS = 500


@dataclass(frozen=True)
class Solve:
    """``solution`` (P,) of (H + damping I) s = b, CG ``iterations`` and whether it converged."""

    solution: torch.Tensor
    iterations: int
    converged: bool


def hvp(spec: HeadSpec, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """Hessian-vector product (P,) of the training objective at ``params`` (P,)
    (closed form for the logistic head, double backward with a hidden layer)."""
    return hessian_vector(spec, params, prepare(spec, x, y), vector)


def inverse_hvp(
    spec: HeadSpec,
    params: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    b: torch.Tensor,
    *,
    damping: float = DEFAULT_DAMPING,
    tolerance: float = DEFAULT_CG_TOLERANCE,
    max_iter: int = DEFAULT_CG_ITERATIONS,
    start: torch.Tensor | None = None,
) -> Solve:
    """``(H + damping I)^-1 b`` (P,) by scipy's conjugate gradients over :func:`hvp`.

    ``start`` warm-starts CG (the previous synthesis step's solution is a good guess).
    ``tolerance`` is relative to |b|. H must be positive definite (add ``damping`` if not).
    """
    size = int(b.shape[0])
    count = [0]
    rows = prepare(spec, x, y)

    def apply(v: np.ndarray) -> np.ndarray:
        count[0] += 1
        vec = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64).reshape(-1))
        out = hessian_vector(spec, params, rows, vec)
        if damping:
            out = out + damping * vec
        return out.numpy()

    operator = LinearOperator((size, size), matvec=apply, dtype=np.float64)
    x0 = None if start is None else start.numpy()
    solution, info = cg(operator, b.numpy(), x0=x0, rtol=tolerance, atol=0.0, maxiter=max_iter)
    return Solve(torch.from_numpy(np.asarray(solution, dtype=np.float64)), count[0], info == 0)


def validation_gradient(spec: HeadSpec, params: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor) -> torch.Tensor:
    """``g_V = (1/|V|) sum_v grad_theta l(z_v)`` (P,): the gradient of the mean validation loss."""
    p = params.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(data_loss(spec, p, x_val, y_val), p)
    return grad.detach()


def perturbation_influence(spec: HeadSpec, params: torch.Tensor, x_star: torch.Tensor, y_star: int,
                           s: torch.Tensor) -> torch.Tensor:
    """``I_pert = -grad_x [grad_theta l(z*)^T s]`` (d,) for ``s = H^-1 g_V`` (P,)."""
    x = x_star.detach().reshape(1, -1).clone().requires_grad_(True)
    p = params.detach().requires_grad_(True)
    target = torch.tensor([y_star], dtype=torch.int64)
    (grad_theta,) = torch.autograd.grad(data_loss(spec, p, x, target), p, create_graph=True)
    (grad_x,) = torch.autograd.grad(grad_theta.dot(s), x)
    return -grad_x.reshape(-1).detach()


def validation_loss(spec: HeadSpec, params: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor) -> float:
    """Mean validation cross-entropy (nats)."""
    with torch.no_grad():
        return float(data_loss(spec, params, x_val, y_val))


__all__ = [
    "DTYPE",
    "Solve",
    "hvp",
    "inverse_hvp",
    "perturbation_influence",
    "validation_gradient",
    "validation_loss",
]
