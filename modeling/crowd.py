"""Which items go to the crowd: the studio's "send to the crowd" picks them here (from a
round's batch, the current model's most uncertain items, a random sample, a list, or the
concept's evaluation sample), then ``aggregation.collection.create_crowd_batch`` makes the
batch. Items the expert was asked about and evaluation items are never sent from a pool
for training (they have labels, and evaluation items must stay out of training). The
evaluation sample goes as a batch of its own (``selection="evaluation"``): its labels
evaluate models and never train one; it is collected with an initial overlap of
``EVALUATION_OVERLAP`` answers per item unless the request says otherwise."""

from __future__ import annotations

import numpy as np

from aggregation.collection import CrowdBatchError, CrowdSettings
from labeling.choices import BatchKind
from labeling.models import Assignment, Batch, Concept, Item, Pool
from modeling import evaluation, storage, studio

#: Initial overlap of an evaluation crowd batch: with one answer per item a U(0.8, 1.0)
#: cohort's posteriors are overconfident and the posterior-based intervals cover the truth
#: less than 90 % of the time; two answers meet it (docs/evaluation.md). Training batches
#: keep ``CrowdSettings.overlap`` (1).
EVALUATION_OVERLAP = 2


def default_overlap(source: str, kappa: int) -> int:
    """The initial overlap a crowd batch from ``source`` gets when none is given (never past kappa)."""
    wanted = EVALUATION_OVERLAP if source == "evaluation" else CrowdSettings.overlap
    return max(1, min(wanted, kappa))


def crowd_items(concept: Concept, source: str, *, pool: Pool | None = None, batch: Batch | None = None,
                size: int = 100, items: list[int] | None = None, seed: int = 0, k: int = 20) -> list[int]:
    """Item ids, in queue order, for a crowd batch of ``concept`` from ``source``."""
    if source == "batch":
        if batch is None or batch.concept_id != concept.pk:
            raise CrowdBatchError("Name a batch of this concept.", "batch")
        ids = Assignment.objects.filter(batch=batch).order_by("position", "id").values_list("item_id", flat=True)
        return list(dict.fromkeys(ids))
    if source == "items":
        return list(dict.fromkeys(items or []))
    if pool is None:
        raise CrowdBatchError(f"Choosing {source} items needs a pool.", "pool")
    if source == "evaluation":
        return _evaluation_items(concept, pool, k)
    rows = _candidate_rows(concept, pool)
    if source == "random":
        chosen = np.random.default_rng(seed).choice(rows, size=min(size, len(rows)), replace=False)
    elif source == "uncertain":
        chosen = _most_uncertain(concept, pool, rows, size)
    else:
        raise CrowdBatchError(f"Unknown source {source!r}: use batch, uncertain, random, items or evaluation.",
                              "source")
    return studio.items_for_rows(pool, np.asarray(chosen, dtype=np.int64))


def _evaluation_items(concept: Concept, pool: Pool, k: int) -> list[int]:
    """The evaluation sample's items (every model's k per stratum) not yet in a crowd
    evaluation batch of the concept: what the expert's evaluation set would hold."""
    storage.one_store_only(pool, "sending the evaluation sample to the crowd")
    if not storage.index_path(pool).exists():
        raise CrowdBatchError("The pool is not ready for evaluation yet.", "pool")
    sample, _, rows = evaluation.evaluation_sample(concept, pool, k)
    sent = set(studio.crowd_evaluation_items(concept).values_list("item_id", flat=True))
    chosen = [i for i in studio.items_for_rows(pool, rows[sample.indices]) if i not in sent]
    if not chosen:
        raise CrowdBatchError("Every item of the evaluation sample is already in a crowd evaluation batch.", "source")
    return chosen


def _candidate_rows(concept: Concept, pool: Pool) -> np.ndarray:
    """Pool rows that were never put to the expert (training or evaluation) for the concept."""
    n = Item.objects.filter(pool=pool, row__isnull=False).count()
    asked = studio.asked_rows(concept, pool)
    crowd = Assignment.objects.filter(batch__concept=concept, batch__kind=BatchKind.CROWD, item__pool=pool,
                                      item__row__isnull=False).values_list("item__row", flat=True)
    mask = np.ones(n, dtype=bool)
    mask[asked[asked < n]] = False
    taken = np.fromiter(crowd, dtype=np.int64)
    mask[taken[taken < n]] = False
    return np.flatnonzero(mask)


def _most_uncertain(concept: Concept, pool: Pool, rows: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` candidate rows whose latest-model score is closest to 0.5 (argpartition)."""
    version = studio.latest_model(concept, pool)
    if version is None or not storage.scores_path(version).is_file():
        raise CrowdBatchError("The concept has no model on this pool yet: train one, or choose another source.",
                              "source")
    scores = np.load(storage.scores_path(version), mmap_mode="r")
    distance = np.abs(np.asarray(scores[rows], dtype=np.float32) - 0.5)
    k = min(size, len(rows))
    if k == 0:
        return rows[:0]
    top = np.argpartition(distance, k - 1)[:k]
    return rows[top[np.argsort(distance[top], kind="stable")]]
