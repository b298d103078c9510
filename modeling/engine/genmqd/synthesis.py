"""GenMQD query synthesis (the paper's Algorithm 1) on frozen features.

For a target class y*, x* starts at the centre of y*'s labelled features; each of T steps
refits the head on L plus (x*, y*), then moves x* against the influence of perturbing it on
the validation loss (``modeling.engine.genmqd.influence``):

    theta_t = argmin R(theta; L + (x*_t, y*))       (refit)
    x*_{t+1} = x*_t - alpha * I_pert(x*_t)           (I_pert averaged over V)

so that the synthetic example is the one whose label would lower the validation loss most.
Refits are warm-started from the previous step's parameters by default: the logistic head's
objective is strictly convex, so a warm and a cold refit reach the same minimum (to the
solver's tolerance) and give the same x*; ``refit="cold"`` refits from scratch each step
as the paper writes it, and the tests and the benchmark compare the two.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from modeling.engine.errors import NotEnoughLabelsError
from modeling.engine.genmqd.head import HeadSpec, as_training_data, fit, head_spec
from modeling.engine.genmqd.influence import (
    DEFAULT_CG_ITERATIONS,
    DEFAULT_DAMPING,
    inverse_hvp,
    perturbation_influence,
    validation_gradient,
    validation_loss,
)
from modeling.engine.trainer.fit import torch_threads

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SynthesisConfig:
    """Settings of one synthesis.

    steps, alpha: T and the step size (the paper's defaults: 200 and 1e-4).
    alpha_units: "unit-norm" (default) reads ``alpha`` for features of unit L2 norm, as
        CLIP embeddings are normalised in the paper's setting: for features of mean norm
        nu the raw step is ``alpha * nu^2 * I_pert``, which moves x* by the same fraction
        of its norm (I_pert scales as 1/nu). "raw" applies ``alpha`` as it is. On the
        offline encoder's features (nu ~ 24) a raw 1e-4 moves x* by 0.04 % of its norm in
        200 steps and leaves its description unchanged.
    hidden, l2: the head (``()`` = multinomial logistic regression) and its L2 weight
        (None: 1 / |L|, scikit-learn's C = 1).
    damping: added to H in the CG solve (0 is exact for the logistic head).
    refit: "warm" (from the last step's parameters) or "cold" (from scratch each step).
    fit_tolerance, cg_tolerance: gradient norm at a refit, and CG's relative residual. A
        step only needs the direction of I_pert: on CIFAR-10 features (6 classes x 30
        labels, 60 steps) 1e-5 / 1e-3 ended 1.4 % of the walk's length away from x* with
        1e-8 / 1e-6, 3.3x faster (1.5 s vs 5.1 s); the tests use tight values to compare
        with finite differences and with cold refits.
    clamp: keep x* inside the per-dimension range of the labelled features (off by
        default, as in the paper; on keeps a long or large-step walk among feature values
        real images have, e.g. non-negative pooled CNN activations).
    """

    steps: int = 200
    alpha: float = 1e-4
    alpha_units: Literal["unit-norm", "raw"] = "unit-norm"
    hidden: tuple[int, ...] = ()
    l2: float | None = None
    damping: float = DEFAULT_DAMPING
    refit: Literal["warm", "cold"] = "warm"
    clamp: bool = False
    fit_tolerance: float = 1e-5
    cg_tolerance: float = 1e-3
    cg_max_iter: int = DEFAULT_CG_ITERATIONS


@dataclass(frozen=True)
class Synthesis:
    """The outcome for one target class.

    x: (d,) float32 the synthetic feature vector x*_T; start: (d,) the class centre x*_0.
    validation_loss: (T + 1,) mean validation cross-entropy (nats) of the head refit on
        L + (x*_t, y*), t = 0..T.
    cg_iterations: (T,) CG iterations per step; seconds: wall time of the whole synthesis.
    """

    target: int
    x: np.ndarray
    start: np.ndarray
    validation_loss: np.ndarray
    cg_iterations: np.ndarray
    seconds: float

    @property
    def moved(self) -> float:
        """|x*_T - x*_0| (feature units)."""
        return float(np.linalg.norm(self.x.astype(np.float64) - self.start.astype(np.float64)))

    def __repr__(self) -> str:
        loss = self.validation_loss
        return (f"Synthesis(target={self.target}, steps={len(self.cg_iterations)}, moved={self.moved:.4g}, "
                f"val_loss={loss[0]:.4f}->{loss[-1]:.4f}, {self.seconds:.2f}s)")


def class_centre(features: np.ndarray, labels: np.ndarray, target: int) -> np.ndarray:
    """Mean (d,) float64 of the labelled features of class ``target``."""
    rows = np.asarray(labels) == target
    if not rows.any():
        raise NotEnoughLabelsError(f"class {target} has no labelled example to start x* from")
    centre: np.ndarray = np.asarray(features, dtype=np.float64)[rows].mean(axis=0)
    return centre


def synthesize(
    features: np.ndarray,
    labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
    target: int,
    n_classes: int,
    config: SynthesisConfig = SynthesisConfig(),
    progress: Progress | None = None,
) -> Synthesis:
    """Synthesise x* for class ``target``.

    features (n, d), labels (n,) in 0..C-1: the labelled set L; val_features (m, d),
    val_labels (m,): the validation set V; n_classes: C. ``progress(step, T)`` after each step.
    Runs on one thread (torch and BLAS): see :func:`one_thread`.
    """
    with one_thread():
        return _synthesize(features, labels, val_features, val_labels, target, n_classes, config, progress)


@contextmanager
def one_thread() -> Iterator[None]:
    """torch and the BLAS behind numpy/scipy on one thread for the block. The work is
    thousands of small products (vectors of ~10k, matrices of a few hundred rows): on
    this shared 2-core machine a second BLAS thread spin-waiting while another process
    holds a core made a synthesis 6x slower (6.7 s vs 1.1 s for 5 steps)."""
    with torch_threads(1), threadpool_limits(limits=1, user_api="blas"):
        yield


def _synthesize(
    features: np.ndarray,
    labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
    target: int,
    n_classes: int,
    config: SynthesisConfig,
    progress: Progress | None,
) -> Synthesis:
    started = time.perf_counter()
    x_l, y_l = as_training_data(features, labels, n_classes)
    x_v, y_v = as_training_data(val_features, val_labels, n_classes)
    spec = head_spec(features, n_classes, config.hidden, config.l2)
    x_star = torch.from_numpy(class_centre(features, labels, target))
    low, high = x_l.min(dim=0).values, x_l.max(dim=0).values
    walk = _Walk(spec, x_l, y_l, x_v, y_v, target, config)
    step_size = config.alpha * (float(x_l.norm(dim=1).mean()) ** 2 if config.alpha_units == "unit-norm" else 1.0)
    losses, iterations = [], []
    params = walk.refit(x_star, None)
    for step in range(config.steps):
        losses.append(validation_loss(spec, params, x_v, y_v))
        influence, used = walk.influence(params, x_star)
        iterations.append(used)
        x_star = x_star - step_size * influence
        if config.clamp:
            x_star = torch.minimum(torch.maximum(x_star, low), high)
        params = walk.refit(x_star, params)
        if progress is not None:
            progress(step + 1, config.steps)
    losses.append(validation_loss(spec, params, x_v, y_v))
    start = class_centre(features, labels, target)
    return Synthesis(target, x_star.numpy().astype(np.float32), start.astype(np.float32),
                     np.asarray(losses), np.asarray(iterations, dtype=np.int64), time.perf_counter() - started)


class _Walk:
    """The refit and influence steps of one synthesis, over fixed L, V and target."""

    def __init__(self, spec: HeadSpec, x_l: torch.Tensor, y_l: torch.Tensor, x_v: torch.Tensor, y_v: torch.Tensor,
                 target: int, config: SynthesisConfig) -> None:
        self.spec, self.x_l, self.x_v, self.y_v, self.target, self.config = spec, x_l, x_v, y_v, target, config
        self.y = torch.cat([y_l, torch.tensor([target], dtype=torch.int64)])
        self.last_solution: torch.Tensor | None = None

    def rows(self, x_star: torch.Tensor) -> torch.Tensor:
        """L's features with x* appended (n + 1, d)."""
        return torch.cat([self.x_l, x_star.reshape(1, -1)])

    def refit(self, x_star: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
        start = previous if self.config.refit == "warm" else None
        return fit(self.spec, self.rows(x_star), self.y, start, tolerance=self.config.fit_tolerance)

    def influence(self, params: torch.Tensor, x_star: torch.Tensor) -> tuple[torch.Tensor, int]:
        """I_pert (d,) at x* and the CG iterations it took (warm-started from the last solve)."""
        g = validation_gradient(self.spec, params, self.x_v, self.y_v)
        solve = inverse_hvp(self.spec, params, self.rows(x_star), self.y, g, damping=self.config.damping,
                            tolerance=self.config.cg_tolerance, max_iter=self.config.cg_max_iter,
                            start=self.last_solution)
        self.last_solution = solve.solution
        return perturbation_influence(self.spec, params, x_star, self.target, solve.solution), solve.iterations
