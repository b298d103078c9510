"""Zero-shot scoring: cosine of each item to the concept text, mapped to [0, 1].

The concept text is the concept's name plus its positive phrases; the offline image
encoder writes each phrase as "a photo of a …" (DESIGN.md: its best measured prompt)
when it encodes it. The concept vector is the normalised mean of the phrase vectors
(prompt ensembling), optionally pushed away from the mean of the negative phrases.

Cosines rank items but are not calibrated: their typical range differs per encoder
(ConSE image vectors sit at cosine ~.2–.5 from phrases, MiniLM sentence pairs at
~0–.7). A per-encoder :class:`Calibration` maps a cosine ``c`` to
``sigmoid((c - center) / scale)``: monotone, so AUC-PR and AUC-ROC are those of the
raw cosine, and ``center`` is the cosine at which the score is 0.5, the threshold
used for zero-shot F1 and accuracy. The constants of :data:`CALIBRATIONS` are
measured on a dev split (the pool side, never the evaluation set) by
:func:`fit_calibration`: ``center`` maximises the mean F1 over the dev concepts and
``scale`` is the logistic slope of a Platt fit with that centre. ``docs/evaluation.md``
gives the measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from modeling.engine.errors import DimensionMismatchError, NotEnoughLabelsError

FloatArray = NDArray[np.float32]
DEFAULT_CHUNK_ROWS = 65_536
# Weight of the negative phrases' mean subtracted from the positive mean: half keeps
# the concept vector mostly the positive meaning (negatives are usually near misses).
NEGATIVE_WEIGHT = 0.5


@dataclass(frozen=True)
class Calibration:
    """Maps a cosine to a [0, 1] score: ``sigmoid((cosine - center) / scale)``.

    ``center`` is the cosine scoring 0.5, i.e. the F1/accuracy threshold; ``scale`` is
    in cosine units (smaller is steeper); ``source`` says where the numbers come from.
    """

    center: float
    scale: float
    source: str = ""

    def score(self, cosine: NDArray[np.floating]) -> FloatArray:
        """Scores (n,) float32 in [0, 1] for cosines (n,)."""
        z = (np.asarray(cosine, dtype=np.float64) - self.center) / self.scale
        # Split by sign so exp never overflows, for any cosine and any scale.
        out = np.where(
            z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), 1.0 - 1.0 / (1.0 + np.exp(-np.abs(z)))
        )
        return out.astype(np.float32)

    def __repr__(self) -> str:
        return f"Calibration(center={self.center:.4f}, scale={self.scale:.4f}, {self.source!r})"


# Measured by benchmarks/agile_cifar10.py --calibrate (offline, with its default settings
# as of this commit, ConSE T 50 and temperature 4, on the CIFAR-10 train pool over the ten
# one-class concepts; re-measure when those settings change) and by
# benchmarks/agile_banking77.py --calibrate (minilm: banking77 train, twenty intents that
# no benchmark concept uses).
CALIBRATIONS: dict[str, Calibration] = {
    "offline": Calibration(0.4269, 0.0908, "measured: CIFAR-10 train pool, 10 one-class concepts"),
    "minilm": Calibration(0.6211, 0.0761, "measured: banking77 train split, 20 dev intents"),
}
# For an encoder with no measured constants: cosines in [-1, 1] map linearly-ish to
# [0, 1] around 0, which ranks correctly and makes no claim about the threshold.
FALLBACK = Calibration(0.0, 0.25, "fallback: no measured constants for this encoder")


def calibration_for(encoder_name: str) -> Calibration:
    """The measured calibration of a registry encoder name, or :data:`FALLBACK`."""
    return CALIBRATIONS.get(encoder_name, FALLBACK)


def concept_phrases(name: str, positives: Sequence[str]) -> list[str]:
    """The concept text as phrases: the name then the positive phrases, deduplicated.

    Phrases stay raw here: the encoder writes them its own way (the offline encoder
    turns each into "a photo of a …"; MiniLM on a text pool takes them as they are).
    """
    cleaned = (p.replace("_", " ").strip() for p in [name, *positives])
    return list(dict.fromkeys(p for p in cleaned if p))


def concept_vector(
    positive_vectors: NDArray[np.floating],
    negative_vectors: NDArray[np.floating] | None = None,
    negative_weight: float = NEGATIVE_WEIGHT,
) -> FloatArray:
    """Unit (d,) concept vector from (p, d) positive and (q, d) negative phrase vectors."""
    pos = np.asarray(positive_vectors, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[0] == 0:
        raise NotEnoughLabelsError("a zero-shot concept needs at least one positive phrase")
    v = _unit(pos.mean(axis=0))
    if negative_vectors is not None and len(negative_vectors):
        neg = np.asarray(negative_vectors, dtype=np.float64)
        if neg.shape[1] != pos.shape[1]:
            raise DimensionMismatchError(
                f"negative phrases are {neg.shape[1]}-d, positives {pos.shape[1]}-d"
            )
        v = _unit(v - negative_weight * _unit(neg.mean(axis=0)))
    return v.astype(np.float32)


def _unit(v: NDArray[np.float64]) -> NDArray[np.float64]:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def cosine_scores(
    vectors: NDArray[np.floating],
    concept: NDArray[np.floating],
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> FloatArray:
    """Cosines (N,) float32 of L2-normalised rows ``vectors`` (N, d) to ``concept`` (d,).

    ``vectors`` may be a float16 memmap; it is read ``chunk_rows`` rows at a time.
    """
    if vectors.ndim != 2 or vectors.shape[1] != concept.shape[0]:
        raise DimensionMismatchError(
            f"items are {vectors.shape} but the concept vector is {concept.shape[0]}-d"
        )
    c = np.asarray(concept, dtype=np.float32)
    out = np.empty(vectors.shape[0], dtype=np.float32)
    for start in range(0, vectors.shape[0], chunk_rows):
        stop = min(start + chunk_rows, vectors.shape[0])
        out[start:stop] = np.asarray(vectors[start:stop], dtype=np.float32) @ c
    return out


def zero_shot_scores(
    vectors: NDArray[np.floating], concept: NDArray[np.floating], calibration: Calibration
) -> FloatArray:
    """Zero-shot scores (N,) in [0, 1]: the calibrated cosine of each item to the concept."""
    return calibration.score(cosine_scores(vectors, concept))


def best_f1_threshold(
    labels_list: Sequence[NDArray[np.integer]], cosines_list: Sequence[FloatArray]
) -> float:
    """The cosine threshold maximising the mean F1 over several concepts.

    Each concept contributes (n_j,) 0/1 labels and (n_j,) cosines; candidate
    thresholds are a 512-step grid over the pooled cosine range.
    """
    lo = min(float(c.min()) for c in cosines_list)
    hi = max(float(c.max()) for c in cosines_list)
    grid = np.linspace(lo, hi, 512)
    mean_f1 = np.zeros(grid.size)
    for labels, cos in zip(labels_list, cosines_list, strict=True):
        y = np.asarray(labels) == 1
        # Counts at every threshold at once: items at or above each grid value.
        order = np.sort(cos)
        above = cos.size - np.searchsorted(order, grid, side="left")
        pos_sorted = np.sort(cos[y])
        tp = pos_sorted.size - np.searchsorted(pos_sorted, grid, side="left")
        mean_f1 += 2 * tp / np.maximum(above + y.sum(), 1)
    return float(grid[int(np.argmax(mean_f1))])


def fit_calibration(
    labels_list: Sequence[NDArray[np.integer]], cosines_list: Sequence[FloatArray], source: str
) -> Calibration:
    """Per-encoder constants from dev concepts: F1-best centre, Platt-fitted scale."""
    center = best_f1_threshold(labels_list, cosines_list)
    y = np.concatenate([np.asarray(lab, dtype=np.float64) for lab in labels_list])
    x = np.concatenate([np.asarray(c, dtype=np.float64) for c in cosines_list]) - center
    return Calibration(center, 1.0 / _logistic_slope(x, y), source)


def _logistic_slope(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """Slope a of P(y=1) = sigmoid(a x + b) by Newton's method (30 steps, 2 parameters)."""
    a, b = 1.0, 0.0
    for _ in range(30):
        p = 1.0 / (1.0 + np.exp(-np.clip(a * x + b, -30, 30)))
        w = p * (1 - p) + 1e-9
        grad = np.array([x @ (y - p), np.sum(y - p)])
        hess = np.array([[x @ (w * x), x @ w], [x @ w, w.sum()]])
        a, b = np.array([a, b]) + np.linalg.solve(hess, grad)
    return max(float(a), 1e-6)
