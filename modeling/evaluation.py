"""Metrics of every model of a concept (and zero-shot) on its expert-labelled evaluation set.

The evaluation set is the union, over models, of the k lowest SipHash keys per score
stratum (``modeling.engine.sampler``). Because the sample is a pure function of item keys
and scores, it is recomputed here rather than stored; the expert's labels of sampled
items are read from the Label table, and the weighted estimator turns them into
pool-level metrics with standard errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labeling.choices import BatchKind, LabelSource
from labeling.models import Assignment, Concept, Label, Pool
from modeling import storage
from modeling.engine.errors import NotEnoughLabelsError
from modeling.engine.sampler import EvaluationSample, stratified_sample, weighted_estimate
from modeling.engine.zero_shot import calibration_for, concept_vector, zero_shot_scores
from modeling.models import ModelVersion

ZERO_SHOT = "zero-shot"
DEFAULT_K = 20


def zero_shot_pool_scores(concept: Concept, pool: Pool) -> np.ndarray:
    """Calibrated zero-shot scores (N,) of every pool row for the concept's phrases."""
    store = storage.open_store(pool)
    encoder = storage.encoder_for(pool.encoder)
    positives = encoder.encode_texts(concept.all_positive_phrases)
    negatives = encoder.encode_texts(concept.negative_phrases) if concept.negative_phrases else None
    return zero_shot_scores(store.vectors, concept_vector(positives, negatives), calibration_for(pool.encoder))


def model_scores(concept: Concept, pool: Pool) -> dict[str, np.ndarray]:
    """Scores (N,) per model name ("v1", "v2", …, and "zero-shot") over the pool."""
    scores = {ZERO_SHOT: zero_shot_pool_scores(concept, pool)}
    for version in ModelVersion.objects.filter(concept=concept, pool=pool).order_by("number"):
        path = storage.scores_path(version)
        if path.exists():
            scores[f"v{version.number}"] = np.load(path)
    return scores


def candidate_rows(concept: Concept, pool: Pool) -> np.ndarray:
    """Pool rows eligible for evaluation: all but those put to the expert for training, so
    the estimate is of how the model does on items it has not been trained on."""
    n = len(storage.open_store(pool))
    training = Assignment.objects.filter(batch__concept=concept, batch__kind=BatchKind.EXPERT_RATING,
                                         item__pool=pool, item__row__isnull=False).values_list("item__row", flat=True)
    mask = np.ones(n, dtype=bool)
    mask[np.fromiter(training, dtype=np.int64)] = False
    return np.flatnonzero(mask)


def evaluation_sample(
    concept: Concept, pool: Pool, k: int = DEFAULT_K
) -> tuple[EvaluationSample, dict[str, np.ndarray], np.ndarray]:
    """The stratified sample over the candidate rows; sample indices are positions in
    ``rows`` (returned third), scores are restricted to those rows."""
    rows = candidate_rows(concept, pool)
    scores = {name: s[rows] for name, s in model_scores(concept, pool).items()}
    keys = storage.open_store(pool).keys
    return stratified_sample([keys[int(r)] for r in rows], scores, k), scores, rows


def _labels_of_rows(concept: Concept, pool: Pool, rows: np.ndarray) -> np.ndarray:
    """1 / 0 for rows the expert labelled, -1 for the rest, aligned with ``rows``."""
    labelled = dict(Label.objects.filter(concept=concept, source=LabelSource.EXPERT, item__pool=pool,
                                         item__row__in=[int(r) for r in rows]).values_list("item__row", "value"))
    return np.array([int(labelled[int(r)]) if int(r) in labelled else -1 for r in rows], dtype=np.int64)


def _summary(estimates: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("auc_pr", "auc_roc", "f1", "accuracy", "precision", "recall"):
        estimate = estimates.get(name)
        if estimate is None:
            continue
        value = float(estimate.value)
        out[name] = None if not np.isfinite(value) else round(value, 4)
        out[f"{name}_low"] = None if not np.isfinite(estimate.low) else round(float(estimate.low), 4)
        out[f"{name}_high"] = None if not np.isfinite(estimate.high) else round(float(estimate.high), 4)
    return out


def concept_metrics(concept: Concept, pool: Pool) -> dict[str, Any]:
    """Metrics for zero-shot and every model, plus the evaluation set's progress."""
    eval_items = Assignment.objects.filter(batch__concept=concept, batch__kind=BatchKind.EVALUATION,
                                           item__pool=pool)
    evaluation = {"batch": eval_items.order_by("-batch_id").values_list("batch_id", flat=True).first(),
                  "size": eval_items.count(), "rated": eval_items.filter(status="answered").count()}
    versions = list(ModelVersion.objects.filter(concept=concept, pool=pool).order_by("number"))
    if evaluation["size"] == 0 or not storage.index_path(pool).exists():
        return {"zero_shot": None, "models": [_model_row(v, {}) for v in versions], "evaluation": evaluation}
    sample, scores, rows = evaluation_sample(concept, pool)
    labels = _labels_of_rows(concept, pool, rows[sample.indices])
    results = {name: _estimate_or_empty(sample, name, scores[name], labels) for name in scores}
    record_metrics(versions, results, evaluation)
    return {"zero_shot": results[ZERO_SHOT] or None,
            "models": [_model_row(v, results.get(f"v{v.number}", {})) for v in versions],
            "evaluation": evaluation}


def record_metrics(versions: list[ModelVersion], results: dict[str, dict[str, Any]],
                   evaluation: dict[str, Any]) -> None:
    """Keep each version's latest evaluation in ``ModelVersion.metrics`` (its model card):
    the estimates with their 95 % intervals, zero-shot's on the same sample, and how many
    of the evaluation set's items were rated. Written only when something changed."""
    for version in versions:
        own = results.get(f"v{version.number}", {})
        metrics = {**own, "zero_shot": results.get(ZERO_SHOT) or None,
                   "evaluation": {"batch": evaluation["batch"], "size": evaluation["size"],
                                  "rated": evaluation["rated"]}} if own else {}
        if metrics and metrics != version.metrics:
            ModelVersion.objects.filter(pk=version.pk).update(metrics=metrics)
            version.metrics = metrics


def _estimate_or_empty(sample: EvaluationSample, name: str, scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    own = sample.models[name]
    own_labels = labels[np.searchsorted(sample.indices, own.indices)]
    if (own_labels >= 0).sum() < 2 or len(np.unique(own_labels[own_labels >= 0])) < 2:
        return {}  # needs at least one rated positive and one rated negative
    try:
        return _summary(weighted_estimate(sample, name, scores, labels, rng=np.random.default_rng(0)))
    except NotEnoughLabelsError:
        return {}  # a stratum has items but none of its sample is rated yet: no estimate until it is


def _model_row(version: ModelVersion, metrics: dict[str, Any]) -> dict[str, Any]:
    return {"id": version.pk, "number": version.number, "round": version.round, "labels": version.label_count,
            "source": version.source, **{k: None for k in ("auc_pr", "auc_roc", "f1", "accuracy")}, **metrics}
