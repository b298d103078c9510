"""Input and output shapes shared by every aggregation method.

``Answers`` holds integer-coded answers, one row per answer; ``AggregationResult`` is
what every method returns. Both are frozen dataclasses with a short ``repr`` for run
logs (arrays are summarised, never printed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import DimensionMismatchError, InvalidAnswersError

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def _as_codes(name: str, values: ArrayLike) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DimensionMismatchError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise InvalidAnswersError(f"{name} must hold integer codes, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _size(name: str, codes: IntArray, given: int | None) -> int:
    if codes.size and int(codes.min()) < 0:
        raise InvalidAnswersError(f"{name} codes must be >= 0, found {int(codes.min())}")
    seen = int(codes.max()) + 1 if codes.size else 0
    if given is None:
        return seen
    if seen > given:
        raise InvalidAnswersError(f"{name} code {seen - 1} is out of range for n={given}")
    return int(given)


@dataclass(frozen=True, repr=False)
class Answers:
    """Integer-coded answers: row i says worker ``workers[i]`` gave ``labels[i]`` to
    task ``tasks[i]``. Codes are 0-based; ``n_tasks``/``n_workers``/``n_classes`` may
    exceed the largest code (tasks with no votes keep a uniform posterior)."""

    tasks: IntArray
    workers: IntArray
    labels: IntArray
    n_tasks: int
    n_workers: int
    n_classes: int

    @classmethod
    def from_arrays(
        cls,
        tasks: ArrayLike,
        workers: ArrayLike,
        labels: ArrayLike,
        *,
        n_tasks: int | None = None,
        n_workers: int | None = None,
        n_classes: int | None = None,
    ) -> Answers:
        """Validate and wrap three parallel code arrays (any integer dtype, shape (n,))."""
        t, w, y = (
            _as_codes("tasks", tasks),
            _as_codes("workers", workers),
            _as_codes("labels", labels),
        )
        if not (t.size == w.size == y.size):
            raise DimensionMismatchError(
                f"tasks, workers, labels differ in length: {t.size}, {w.size}, {y.size}"
            )
        k = _size("labels", y, n_classes)
        return cls(
            tasks=t,
            workers=w,
            labels=y,
            n_tasks=_size("tasks", t, n_tasks),
            n_workers=_size("workers", w, n_workers),
            n_classes=max(k, 1),
        )

    @property
    def n_answers(self) -> int:
        return int(self.tasks.size)

    def cells(self) -> IntArray:
        """Flat (task, class) index of every answer, ``tasks * K + labels``, shape (n,)."""
        return self.tasks * self.n_classes + self.labels

    def subset(self, mask: BoolArray) -> Answers:
        """The answers where ``mask`` holds, with the same sizes (codes unchanged)."""
        return Answers(
            self.tasks[mask],
            self.workers[mask],
            self.labels[mask],
            self.n_tasks,
            self.n_workers,
            self.n_classes,
        )

    def __repr__(self) -> str:
        return (
            f"Answers(n_answers={self.n_answers}, n_tasks={self.n_tasks}, "
            f"n_workers={self.n_workers}, n_classes={self.n_classes})"
        )


@dataclass(frozen=True, repr=False)
class AggregationResult:
    """What every method returns.

    labels:      (n_tasks,) int class code of each task (ties broken by ``decide``)
    confidence:  (n_tasks,) float, ``posteriors[t, labels[t]]`` -- for MV/WMV/SV the
                 method's own normalised score (winning share / weight over total)
    posteriors:  (n_tasks, K) float, rows sum to 1; a task with no votes is uniform
    n_votes:     (n_tasks,) int number of votes that reached the method
    skills:      (n_workers,) float worker accuracy used or learnt, or None (MV)
    confusion:   (n_workers, K, K) float, ``confusion[j, true, answered]``, DS only
    class_prior: (K,) float class prior used or learnt, or None
    n_iter, converged, log_likelihood: EM bookkeeping; ``log_likelihood`` is the
                 history of the mean per-answer observed-data log-likelihood (nats).
    """

    method: str
    labels: IntArray
    confidence: FloatArray
    posteriors: FloatArray
    n_votes: IntArray
    skills: FloatArray | None = None
    confusion: FloatArray | None = None
    class_prior: FloatArray | None = None
    n_iter: int = 0
    converged: bool = True
    log_likelihood: tuple[float, ...] = field(default_factory=tuple)

    @property
    def n_tasks(self) -> int:
        return int(self.labels.size)

    def __repr__(self) -> str:
        ll = f"{self.log_likelihood[-1]:.5f}" if self.log_likelihood else "n/a"
        mean_conf = float(self.confidence.mean()) if self.confidence.size else float("nan")
        return (
            f"AggregationResult(method={self.method!r}, n_tasks={self.n_tasks}, "
            f"n_classes={self.posteriors.shape[1] if self.posteriors.ndim == 2 else 0}, "
            f"mean_confidence={mean_conf:.4f}, n_iter={self.n_iter}, "
            f"converged={self.converged}, log_likelihood={ll})"
        )

    def replace(self, **changes: Any) -> AggregationResult:
        """A copy with some fields changed (``dataclasses.replace`` with a type)."""
        from dataclasses import replace

        return replace(self, **changes)
