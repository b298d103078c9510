"""The expert loop's state, read from the database as arrays for the engines.

Pool rows are the bridge: an Item's ``row`` is its row in the pool's embedding store,
so labels become ``(rows, y)`` arrays and engine outputs (row indices) become items.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Max

from aggregation.models import CollectionItem
from labeling.choices import BatchKind, LabelSource
from labeling.models import Assignment, Batch, Concept, Item, Label, Pool
from modeling.models import ModelVersion

EXPERT_KINDS = (BatchKind.EXPERT_RATING, BatchKind.EVALUATION)
#: ``Batch.selection`` of a crowd batch that carries (part of) the evaluation sample.
CROWD_EVALUATION = "evaluation"


def crowd_evaluation_items(concept: Concept) -> Any:
    """Work items of the concept's crowd evaluation batches (an ``item_id`` values queryset)."""
    return CollectionItem.objects.filter(collection__batch__concept=concept, collection__batch__kind=BatchKind.CROWD,
                                         collection__batch__selection=CROWD_EVALUATION,
                                         is_gold=False).values("item_id")


def without_evaluation_items(queryset: Any, concept: Concept) -> Any:
    """``queryset`` (with an ``item_id``) minus the concept's evaluation items: those of its
    expert evaluation batches and of its crowd evaluation batches."""
    expert = Assignment.objects.filter(batch__concept=concept, batch__kind=BatchKind.EVALUATION).values("item_id")
    return queryset.exclude(item_id__in=expert).exclude(item_id__in=crowd_evaluation_items(concept))


#: Where training labels come from: the expert's ratings, the crowd's aggregated labels, or
#: both (the expert's label wins where both exist).
LABEL_SOURCES = ("expert", "crowd", "both")


def expert_labels(concept: Concept, pool: Pool) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Store rows (n,) int64 and labels (n,) {0,1} of the expert's training labels in
    ``pool``, plus ``[[item_id, value], ...]`` for the model card.

    Items of the evaluation set are left out: a model never trains on its test items.
    """
    rows, targets, _, card = training_labels(concept, pool, "expert")
    return rows, targets.astype(np.int64), [[entry[0], int(entry[1])] for entry in card]


def crowd_weight(posterior_yes: float) -> float:
    """How much a crowd label counts in training: ``|2 P(yes) - 1|`` (a sure label fully, a
    coin toss not at all). Chosen by measurement (benchmarks/crowd_label_training.py):
    hard labels with this weight train as well as unweighted hard labels and better than
    P(yes) as a soft target (AUC-PR +.024 paired over 26 CIFAR-10 tasks)."""
    return abs(2.0 * posterior_yes - 1.0)


def training_labels(concept: Concept, pool: Pool, source: str
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[Any]]]:
    """Store rows (n,) int64 ascending, targets (n,) float64 in {0, 1} and weights (n,)
    float64 from ``source`` (one of ``LABEL_SOURCES``), plus
    ``[[item_id, target, "expert" | "crowd", weight], ...]`` for the model card.

    An expert label is its value with weight 1. A crowd label is its aggregated value with
    the weight ``crowd_weight(P(yes))``, so an unsure crowd label teaches little. The
    expert's label wins where both exist. Evaluation-set items are always left out.
    """
    if source not in LABEL_SOURCES:
        raise ValueError(f"label source must be one of {', '.join(LABEL_SOURCES)}, got {source!r}")
    wanted = {"expert": [LabelSource.EXPERT], "crowd": [LabelSource.AGGREGATED],
              "both": [LabelSource.EXPERT, LabelSource.AGGREGATED]}[source]
    labels = Label.objects.filter(concept=concept, source__in=wanted, item__pool=pool, item__row__isnull=False)
    found = (without_evaluation_items(labels, concept)
             .values_list("item__row", "item_id", "value", "posterior_yes", "source"))
    chosen: dict[int, tuple[int, float, str, float]] = {}
    for row, item_id, value, posterior_yes, label_source in found:
        if label_source == LabelSource.EXPERT:
            chosen[row] = (item_id, float(value), "expert", 1.0)
        elif row not in chosen:
            weight = 1.0 if posterior_yes is None else crowd_weight(float(posterior_yes))
            chosen[row] = (item_id, float(value), "crowd", weight)
    rows = np.array(sorted(chosen), dtype=np.int64)
    targets = np.array([chosen[int(r)][1] for r in rows], dtype=np.float64)
    weights = np.array([chosen[int(r)][3] for r in rows], dtype=np.float64)
    card = [[chosen[int(r)][0], chosen[int(r)][1], chosen[int(r)][2], round(chosen[int(r)][3], 6)] for r in rows]
    return rows, targets, weights, card


def missing_sources(concept: Concept, pool: Pool) -> list[str]:
    """Label sources (of ``LABEL_SOURCES``) with labels at hand but no model on ``pool`` yet:
    the arms of the expert-vs-crowd comparison still to train."""
    trained = set(ModelVersion.objects.filter(concept=concept, pool=pool).values_list("source", flat=True))
    missing = []
    for source in LABEL_SOURCES:
        if source in trained:
            continue
        rows, _, _, card = training_labels(concept, pool, source)
        if source == "both" and not {"expert", "crowd"} <= {row[2] for row in card}:
            continue  # "both" is an arm of its own only when both kinds of labels exist
        if len(rows):
            missing.append(source)
    return missing


def model_card(version: ModelVersion) -> dict[str, Any]:
    """What a model version is: its training-label source and counts, trainer
    configuration, training labels and latest evaluation metrics (``ModelVersion.metrics``)."""
    sources = [row[2] if len(row) > 2 else "expert" for row in version.training_labels]
    return {"concept": version.concept.name, "concept_id": version.concept_id, "version": version.number,
            "model_version": version.pk, "round": version.round, "source": version.source,
            "labels": version.label_count,
            "labels_by_source": {name: sources.count(name) for name in ("expert", "crowd") if name in sources},
            "config": version.config, "metrics": version.metrics, "training_labels": version.training_labels,
            "created_at": version.created_at.isoformat(), "pool": version.pool_id,
            "input": "pool embedding features (the encoder's classifier features)",
            "evaluation": "the concept's stratified evaluation set, labelled by the expert and/or a crowd; "
                          "metrics.evaluated_on names the labels the metrics rest on (modeling.evaluation)"}


def asked_rows(concept: Concept, pool: Pool) -> np.ndarray:
    """Rows never to be chosen for training: those already put to the expert for this
    concept (rated or waiting) and those of its crowd evaluation batches."""
    crowd = crowd_evaluation_items(concept).filter(item__pool=pool, item__row__isnull=False) \
        .values_list("item__row", flat=True)
    return np.union1d(expert_rows(concept, pool), np.fromiter(crowd, dtype=np.int64))


def expert_rows(concept: Concept, pool: Pool) -> np.ndarray:
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
