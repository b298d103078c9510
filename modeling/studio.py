"""The expert loop's state, read from the database as arrays for the engines.

Pool rows are the bridge: an Item's ``row`` is its row in the pool's embedding store,
so labels become ``(rows, y)`` arrays and engine outputs (row indices) become items.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Max

from labeling.choices import BatchKind, LabelSource
from labeling.models import Assignment, Batch, Concept, Item, Label, Pool
from modeling.models import ModelVersion

EXPERT_KINDS = (BatchKind.EXPERT_RATING, BatchKind.EVALUATION)


def evaluation_item_ids(concept: Concept) -> Any:
    return Assignment.objects.filter(batch__concept=concept, batch__kind=BatchKind.EVALUATION).values("item_id")


#: Where training labels come from: the expert's ratings, the crowd's aggregated labels, or
#: both (the expert's label wins where both exist).
LABEL_SOURCES = ("expert", "crowd", "both")


def expert_labels(concept: Concept, pool: Pool) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Store rows (n,) int64 and labels (n,) {0,1} of the expert's training labels in
    ``pool``, plus ``[[item_id, value], ...]`` for the model card.

    Items of the evaluation set are left out: a model never trains on its test items.
    """
    rows, targets, card = training_labels(concept, pool, "expert")
    return rows, targets.astype(np.int64), [[item_id, int(value)] for item_id, value, _ in card]


def training_labels(concept: Concept, pool: Pool, source: str) -> tuple[np.ndarray, np.ndarray, list[list[Any]]]:
    """Store rows (n,) int64 ascending and targets (n,) float64 in [0, 1] from ``source``
    (one of ``LABEL_SOURCES``), plus ``[[item_id, target, "expert" | "crowd"], ...]``.

    An expert label is a target of 0 or 1. A crowd label is the aggregated posterior of
    "yes" (P(yes), not the hard label), so the trainer's soft-target loss weighs it by how
    sure the crowd was. Evaluation-set items are always left out.
    """
    if source not in LABEL_SOURCES:
        raise ValueError(f"label source must be one of {', '.join(LABEL_SOURCES)}, got {source!r}")
    wanted = {"expert": [LabelSource.EXPERT], "crowd": [LabelSource.AGGREGATED],
              "both": [LabelSource.EXPERT, LabelSource.AGGREGATED]}[source]
    found = (Label.objects.filter(concept=concept, source__in=wanted, item__pool=pool, item__row__isnull=False)
             .exclude(item_id__in=evaluation_item_ids(concept))
             .values_list("item__row", "item_id", "value", "posterior_yes", "source"))
    chosen: dict[int, tuple[int, float, str]] = {}
    for row, item_id, value, posterior_yes, label_source in found:
        if label_source == LabelSource.EXPERT:
            chosen[row] = (item_id, float(value), "expert")
        elif row not in chosen:
            target = float(value) if posterior_yes is None else float(posterior_yes)
            chosen[row] = (item_id, target, "crowd")
    rows = np.array(sorted(chosen), dtype=np.int64)
    targets = np.array([chosen[int(r)][1] for r in rows], dtype=np.float64)
    card = [[chosen[int(r)][0], round(chosen[int(r)][1], 6), chosen[int(r)][2]] for r in rows]
    return rows, targets, card


def asked_rows(concept: Concept, pool: Pool) -> np.ndarray:
    """Rows already put to the expert for this concept (rated or waiting): never asked again."""
    rows = Assignment.objects.filter(
        batch__concept=concept, batch__kind__in=EXPERT_KINDS, item__pool=pool, item__row__isnull=False
    ).values_list("item__row", flat=True)
    labeled = Label.objects.filter(concept=concept, source=LabelSource.EXPERT, item__pool=pool,
                                   item__row__isnull=False).values_list("item__row", flat=True)
    return np.unique(np.fromiter([*rows, *labeled], dtype=np.int64))


def items_for_rows(pool: Pool, rows: np.ndarray) -> list[int]:
    """Item ids for store ``rows``, in the same order."""
    by_row = dict(Item.objects.filter(pool=pool, row__in=[int(r) for r in rows]).values_list("row", "id"))
    return [by_row[int(r)] for r in rows if int(r) in by_row]


def next_round(concept: Concept) -> int:
    latest = Batch.objects.filter(concept=concept, kind=BatchKind.EXPERT_RATING).aggregate(m=Max("round"))["m"]
    return 0 if latest is None else latest + 1


def latest_model(concept: Concept, pool: Pool) -> ModelVersion | None:
    return ModelVersion.objects.filter(concept=concept, pool=pool).order_by("-number").first()


def next_model_number(concept: Concept) -> int:
    latest = ModelVersion.objects.filter(concept=concept).aggregate(m=Max("number"))["m"]
    return 1 if latest is None else latest + 1


def batch_event(batch: Batch, size: int) -> dict[str, Any]:
    return {"batch": batch.pk, "concept": batch.concept_id, "kind": batch.kind, "round": batch.round, "size": size}
