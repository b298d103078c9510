""""What does the model need?" in the studio: GenMQD over the expert's labels.

The expert's training labels of a concept in a pool are split into a labelled set L and a
validation set V (a stratified quarter, never the evaluation set, whose labels only
measure models); for each class (yes, then no) the engine synthesises x*, describes it
and gathers the pool images nearest the description, and the images become one rating
batch (selection ``genmqd``) whose ``selection_params`` keep the descriptions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jobs.events import publish
from jobs.registry import Reporter
from labeling import services as labeling_services
from labeling.choices import BatchKind
from labeling.models import Batch, Concept, Item, Pool
from modeling import storage, studio
from modeling.engine.genmqd import (
    ClassQuery,
    SynthesisConfig,
    class_queries,
    decoder_for,
    mean_features,
    split_validation,
)

SELECTION = "genmqd"
CLASS_NAMES = {1: "yes", 0: "no"}
#: Share of each class's labels held out as the validation set V.
VALIDATION_FRACTION = 0.25
MIN_LABELS_PER_CLASS = 2


def missing_labels(concept: Concept, pool: Pool) -> str:
    """Why synthesis cannot run yet ("" when it can): it needs two yes and two no labels."""
    _, labels, _ = studio.expert_labels(concept, pool)
    counts = {name: int(np.sum(labels == value)) for value, name in CLASS_NAMES.items()}
    short = [f"{MIN_LABELS_PER_CLASS - n} more {name}" for name, n in counts.items() if n < MIN_LABELS_PER_CLASS]
    if not short:
        return ""
    return (f"The model needs at least {MIN_LABELS_PER_CLASS} yes and {MIN_LABELS_PER_CLASS} no ratings to say "
            f"what it needs: rate {' and '.join(short)} first.")


def what_model_needs(concept: Concept, pool: Pool, params: dict[str, Any], progress: Reporter) -> dict[str, Any]:
    """Run GenMQD for yes and no, store the gathered images as a rating batch, return the
    descriptions (the job's result)."""
    rows, labels, _ = studio.expert_labels(concept, pool)
    store = storage.open_store(pool)
    features = np.asarray(store.features[rows], dtype=np.float32)
    train, held = split_validation(labels, VALIDATION_FRACTION, np.random.default_rng(params.get("seed", 0)))
    progress(0, 1, "Loading the decoder")
    decoder = decoder_for(storage.encoder_for(pool.encoder), [*concept.all_positive_phrases, *concept.negative_phrases],
                          reference=mean_features(store.features))
    config = SynthesisConfig(steps=int(params.get("steps", 200)), alpha=float(params.get("alpha", 1e-4)))
    queries = class_queries(
        features[train], labels[train], features[held], labels[held], n_classes=2, targets=[1, 0],
        per_class=int(params.get("per_class", 10)), vectors=store.vectors, pool_features=store.features,
        decoder=decoder, exclude=studio.asked_rows(concept, pool), config=config,
        progress=lambda done, total: progress(done, total, "Synthesising what the model needs"))
    items = dict(Item.objects.filter(pool=pool, row__in=[int(r) for q in queries for r in q.rows])
                 .values_list("row", "id"))
    vectors = np.asarray(store.vectors[rows[train]], dtype=np.float32)
    own = {value: labels[train] == value for value in CLASS_NAMES}
    descriptions = [_described(q, items, vectors[own[q.target]], features[train][own[q.target]]) for q in queries]
    ordered = [items[int(r)] for q in queries for r in q.rows if int(r) in items]
    batch = _batch(concept, pool, ordered, {"pool": pool.pk, "steps": config.steps, "alpha": config.alpha,
                                            "validation": len(held), "labelled": len(train),
                                            "descriptions": descriptions})
    return {"batch": batch.pk, "size": len(ordered), "descriptions": descriptions,
            "seconds": round(sum(q.synthesis.seconds for q in queries), 3)}


def _described(query: ClassQuery, items: dict[int, int], own_vectors: np.ndarray,
               own_features: np.ndarray) -> dict[str, Any]:
    """One description as JSON: class, phrases with weights, the gathered items, diagnostics.
    ``own_vectors`` / ``own_features``: the class's labelled images (shared space, features)."""
    description = query.description
    return {
        "class": CLASS_NAMES[query.target],
        "by": query.by,
        "source": description.source if description else "features",
        "text": description.text if description else "",
        "phrases": [{"text": p.text, "gloss": p.gloss, "weight": round(p.weight, 4)}
                    for p in (description.phrases if description else ())],
        "items": [{"item": items[int(r)], "similarity": round(float(s), 4)}
                  for r, s in zip(query.rows, query.similarity) if int(r) in items],
        "few_like_this": few_like_this(query, own_vectors, own_features),
        "moved": round(query.synthesis.moved, 6),
        "validation_loss": [round(float(query.synthesis.validation_loss[0]), 6),
                            round(float(query.synthesis.validation_loss[-1]), 6)],
        "seconds": round(query.synthesis.seconds, 3),
    }


def few_like_this(query: ClassQuery, own_vectors: np.ndarray, own_features: np.ndarray) -> bool:
    """True when the gathered images sit further from the query than the class's own labelled
    images do on average: the pool has little like the description, so the expert may take
    the description as a list of images to add to the pool instead.

    Compared in the space the images were gathered in: cosines to the description's query
    in the shared space, or negated squared distances to x* in feature space."""
    if not len(query.similarity):
        return True
    if query.description is not None and query.by == "description":
        reference = float(np.mean(np.asarray(own_vectors, dtype=np.float32) @ query.description.query))
    else:
        reference = float(-((np.asarray(own_features, dtype=np.float64) - query.synthesis.x) ** 2).sum(axis=1).mean())
    return bool(np.median(query.similarity) < reference)


def _batch(concept: Concept, pool: Pool, items: list[int], params: dict[str, Any]) -> Batch:
    batch = labeling_services.create_batch(concept=concept, kind=BatchKind.EXPERT_RATING, items=items,
                                           assignee=concept.owner, round=studio.next_round(concept),
                                           selection=SELECTION, params=params)
    publish(concept.project_id, "batch.created", studio.batch_event(batch, len(items)))
    return batch


def latest(concept: Concept, pool: Pool | None) -> dict[str, Any] | None:
    """The newest GenMQD batch's descriptions (for the page on load), or None."""
    batches = Batch.objects.filter(concept=concept, selection=SELECTION)
    if pool is not None:
        batches = batches.filter(selection_params__pool=pool.pk)
    batch = batches.order_by("-id").first()
    if batch is None:
        return None
    return {"batch": batch.pk, "size": batch.assignments.count(),
            "descriptions": batch.selection_params.get("descriptions", [])}
