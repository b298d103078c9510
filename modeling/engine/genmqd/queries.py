""""What does the model need?": one synthetic query per class, described and gathered.

For every target class: synthesise x* (``synthesis``), describe it (a :class:`Decoder`),
and gather the unlabelled pool items nearest the description's text query in the shared
space (GenMQD) or, with ``by="features"`` or no decoder, nearest x* in the classifier's
feature space (GenMQD-Fea).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from modeling.engine.errors import DimensionMismatchError, NotEnoughLabelsError
from modeling.engine.genmqd.describe import Decoder, Description
from modeling.engine.genmqd.gather import nearest
from modeling.engine.genmqd.synthesis import Synthesis, SynthesisConfig, synthesize

Progress = Callable[[int, int], None]
GatherBy = Literal["description", "features"]


@dataclass(frozen=True)
class ClassQuery:
    """The query for one class: its ``synthesis``, the ``description`` (None without a
    decoder), the gathered pool ``rows`` (k,) best first with their ``similarity`` (k,) to
    the query, and ``by`` what they were gathered."""

    target: int
    synthesis: Synthesis
    description: Description | None
    rows: np.ndarray
    similarity: np.ndarray
    by: GatherBy

    def __repr__(self) -> str:
        words = self.description.text if self.description else "(no decoder)"
        return f"ClassQuery(target={self.target}, by={self.by}, rows={len(self.rows)}, {words})"


def split_validation(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation) of ``labels`` (n,): a stratified ``fraction`` of each class
    held out, at least one per class, at least one per class left to train on.

    Raises NotEnoughLabelsError when a class has fewer than two labels."""
    labels = np.asarray(labels)
    train, held = [], []
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        if len(members) < 2:
            raise NotEnoughLabelsError(f"class {value!r} needs at least 2 labels (one to train on, one to validate)")
        count = min(len(members) - 1, max(1, round(fraction * len(members))))
        held.append(members[:count])
        train.append(members[count:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def class_queries(
    features: np.ndarray,
    labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
    *,
    n_classes: int,
    targets: Sequence[int],
    per_class: int,
    vectors: np.ndarray,
    pool_features: np.ndarray,
    decoder: Decoder | None,
    exclude: np.ndarray | None = None,
    by: GatherBy = "description",
    config: SynthesisConfig = SynthesisConfig(),
    progress: Progress | None = None,
) -> list[ClassQuery]:
    """One :class:`ClassQuery` per target, with no pool row gathered twice.

    features (n, d), labels (n,): L; val_features (m, d), val_labels (m,): V;
    vectors (N, dim): the pool in the shared space (text queries search it);
    pool_features (N, d): the pool in the classifier's feature space (GenMQD-Fea);
    exclude (e,): pool rows never gathered (already labelled or asked).
    ``progress(steps_done, steps_total)`` over all targets' synthesis steps.
    """
    if pool_features.shape[0] != vectors.shape[0] or pool_features.shape[1] != np.shape(features)[1]:
        raise DimensionMismatchError(f"pool features {pool_features.shape} do not match the vectors "
                                     f"{vectors.shape} and the labelled features {np.shape(features)}")
    taken = np.asarray(exclude if exclude is not None else [], dtype=np.int64)
    out: list[ClassQuery] = []
    for index, target in enumerate(targets):
        def step(done: int, total: int, index: int = index) -> None:
            if progress is not None:
                progress(index * total + done, len(targets) * total)

        synthesis = synthesize(features, labels, val_features, val_labels, int(target), n_classes, config, step)
        description = decoder.describe(synthesis.x) if decoder is not None else None
        if description is not None and by == "description":
            rows, sims = nearest(description.query, vectors, per_class, taken)
            used: GatherBy = "description"
        else:
            rows, sims = nearest(synthesis.x, pool_features, per_class, taken, metric="euclidean")
            used = "features"
        taken = np.concatenate([taken, rows])
        out.append(ClassQuery(int(target), synthesis, description, rows, sims, used))
    return out
