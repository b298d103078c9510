"""Calibration of a head's logits: Platt scaling, then a shift to the pool's positive rate.

A head is trained with its classes balanced (half the weight on positives), so its
logit z estimates ``log p(x | pos) / p(x | neg)`` rather than the log-odds on the pool,
where positives may be 1 % of the items; its 0.5 threshold then calls far too many
items positive. Two steps put the threshold where it means "as likely as not":

1. **Platt scaling** (Platt 1999): ``a z + c`` fitted by weighted logistic regression on
   the head's *held-out* (cross-validated) logits, with the training weights, so the
   balanced-prior probabilities are calibrated rather than over-confident.
2. **Prior shift** (Saerens, Latinne & Decaestecker, Neural Computation 2002): the
   pool's positive rate pi is the fixed point of ``pi = mean_x sigmoid(a z(x) + c +
   logit(pi))`` over a uniform sample of pool rows (their EM), and ``logit(pi)`` is
   added to the intercept (Bayes' rule moving from prior 1/2 to prior pi).

Both are affine in z, so they fold into the output layer (``Calibration.fold``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

#: Clip of the estimated pool positive rate: 1 in 10^5 .. 1 - 10^-5.
_PI_FLOOR = 1e-5


@dataclass(frozen=True)
class Calibration:
    """``logit' = scale * logit + shift``; ``prior`` is the pool positive rate it assumes
    (None when no prior shift was applied)."""

    scale: float = 1.0
    shift: float = 0.0
    prior: float | None = None

    def fold(self, weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The output layer ``(W (1, h), b (1,))`` with this calibration applied to its logit."""
        return weight * self.scale, bias * self.scale + self.shift

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated logits (n,) of raw logits (n,)."""
        out: np.ndarray = logits * self.scale + self.shift
        return out


IDENTITY = Calibration()


def platt(logits: np.ndarray, labels: np.ndarray, weights: np.ndarray, iterations: int = 50) -> tuple[float, float]:
    """(a, c) minimising the weighted log-loss of ``sigmoid(a z + c)`` on held-out
    ``logits`` (n,), ``labels`` (n,) in {0, 1}, ``weights`` (n,) > 0: Newton's method on
    two parameters with a tiny ridge (1e-6) so separable data keeps finite values.

    Platt's own smoothing of the targets ((n+ + 1) / (n+ + 2) for positives, 1 / (n- + 2)
    for negatives) keeps a perfectly separated held-out set from sending ``a`` to infinity.
    """
    z = np.asarray(logits, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    pos_mass, neg_mass = float(np.sum(w * labels)), float(np.sum(w * (1 - labels)))
    n_eff = 1.0 / float(np.sum(w * w))  # effective sample size of the weights
    hi = (pos_mass * n_eff + 1) / (pos_mass * n_eff + 2)
    lo = 1 / (neg_mass * n_eff + 2)
    t = np.where(labels == 1, hi, lo)
    design = np.stack([z, np.ones_like(z)], axis=1)
    theta = np.array([1.0, 0.0])
    loss = _platt_loss(design, theta, t, w)
    for _ in range(iterations):
        p = _sigmoid(design @ theta)
        grad = design.T @ (w * (p - t)) + 1e-6 * theta
        hess = (design * (w * p * (1 - p))[:, None]).T @ design + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        # Backtracking: a full Newton step overshoots when held-out logits are huge.
        for _ in range(30):
            new_theta = theta - step
            new_loss = _platt_loss(design, new_theta, t, w)
            if new_loss <= loss:
                break
            step = step / 2
        else:
            break
        theta, improved, loss = new_theta, loss - new_loss, new_loss
        if improved < 1e-12:
            break
    return float(theta[0]), float(theta[1])


def _platt_loss(design: np.ndarray, theta: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> float:
    """Weighted cross-entropy of ``sigmoid(design @ theta)`` against soft ``targets``, plus the ridge."""
    z = design @ theta
    losses = targets * np.logaddexp(0.0, -z) + (1 - targets) * np.logaddexp(0.0, z)
    return float(np.sum(weights * losses) + 0.5e-6 * float(theta @ theta))


def pool_prior(calibrated_logits: np.ndarray, iterations: int = 200) -> float:
    """The pool positive rate pi (Saerens et al. EM) from balanced-prior calibrated logits
    (n,) of a uniform sample of pool rows: iterate ``pi = mean sigmoid(l + logit(pi))``."""
    logits = np.asarray(calibrated_logits, dtype=np.float64)
    if logits.size == 0:
        return 0.5
    pi = float(np.mean(_sigmoid(logits)))
    for _ in range(iterations):
        pi = min(max(pi, _PI_FLOOR), 1 - _PI_FLOOR)
        new = float(np.mean(_sigmoid(logits + math.log(pi / (1 - pi)))))
        if abs(new - pi) < 1e-7:
            pi = new
            break
        pi = new
    return min(max(pi, _PI_FLOOR), 1 - _PI_FLOOR)


def calibration(
    held_out_logits: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    pool_sample_logits: np.ndarray | None,
) -> Calibration:
    """Platt scaling on held-out logits, then the prior shift estimated on
    ``pool_sample_logits`` (the final head's logits of a uniform pool sample; None: no shift)."""
    scale, shift = platt(held_out_logits, labels, weights)
    if pool_sample_logits is None or len(pool_sample_logits) == 0:
        return Calibration(scale, shift)
    prior = pool_prior(np.asarray(pool_sample_logits) * scale + shift)
    return Calibration(scale, shift + math.log(prior / (1 - prior)), prior)


def weighted_log_loss(logits: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """Mean weighted cross-entropy (nats) of ``sigmoid(logits)`` against 0/1 ``labels``."""
    z = np.asarray(logits, dtype=np.float64)
    # log(1 + exp(-z)) for positives, log(1 + exp(z)) for negatives, overflow-free.
    losses = np.logaddexp(0.0, np.where(labels == 1, -z, z))
    return float(np.sum(weights * losses) / np.sum(weights))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic
    return out
