"""Metrics of every model of a concept (and zero-shot) on its evaluation set.

The evaluation set is the union, over models, of the k lowest SipHash keys per score
stratum (``modeling.engine.sampler``). Because the sample is a pure function of item keys
and scores, it is recomputed here rather than stored. It is labelled by the expert (an
evaluation batch), by a cohort (a crowd batch of ``selection="evaluation"``), or both;
each model gets an estimate per label basis (``modeling.engine.posterior_eval``):

- ``expert``: the expert's labels, the weighted estimator;
- ``crowd-hard``: the crowd's aggregated labels, the same estimator;
- ``crowd-posterior``: the crowd's P(yes), expected counts with the labels' uncertainty.

A model row's own metrics rest on the expert's labels where they give an estimate, else on
the crowd's posteriors; ``evaluated_on`` names which. Where both exist, ``crowd_bias`` is the
crowd-posterior estimate minus the expert's: how far the crowd's evaluation is off for
this concept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aggregation.models import CollectionItem
from labeling.choices import BatchKind, LabelSource
from labeling.models import Assignment, Concept, Label, Pool
from modeling import storage, studio
from modeling.engine.errors import NotEnoughLabelsError
from modeling.engine.posterior_eval import CROWD_HARD, CROWD_POSTERIOR, EXPERT, LABEL_BASES, posterior_estimate
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
    """Pool rows eligible for evaluation: all but those put to the expert for training and
    those sent to a crowd for training (crowd batches other than evaluation ones), so the
    estimate is of how a model does on items no model of the concept was trained on."""
    mask = np.ones(len(storage.open_store(pool)), dtype=bool)
    mask[excluded_rows(concept, pool)] = False
    return np.flatnonzero(mask)


def excluded_rows(concept: Concept, pool: Pool) -> np.ndarray:
    """Sorted pool rows kept out of the evaluation sample: those put to the expert for
    training and those sent to a crowd for training (any layout of the pool)."""
    training = Assignment.objects.filter(batch__concept=concept, batch__kind=BatchKind.EXPERT_RATING,
                                         item__pool=pool, item__row__isnull=False).values_list("item__row", flat=True)
    crowd = (CollectionItem.objects.filter(collection__batch__concept=concept, item__pool=pool,
                                           item__row__isnull=False)
             .exclude(collection__batch__selection=studio.CROWD_EVALUATION).values_list("item__row", flat=True))
    return np.union1d(np.fromiter(training, dtype=np.int64), np.fromiter(crowd, dtype=np.int64))


def evaluation_sample(
    concept: Concept, pool: Pool, k: int = DEFAULT_K
) -> tuple[EvaluationSample, dict[str, np.ndarray], np.ndarray]:
    """The stratified sample over the candidate rows; sample indices are positions in
    ``rows`` (returned third), scores are restricted to those rows."""
    rows = candidate_rows(concept, pool)
    scores = {name: s[rows] for name, s in model_scores(concept, pool).items()}
    keys = storage.open_store(pool).keys
    return stratified_sample([keys[int(r)] for r in rows], scores, k), scores, rows


def _labels_of_rows(concept: Concept, pool: Pool, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per label basis, aligned with ``rows``: the expert's and the crowd's hard labels
    (1 / 0, -1 where there is none) and the crowd's P(yes) (NaN where there is none)."""
    found = (Label.objects.filter(concept=concept, item__pool=pool, item__row__in=[int(r) for r in rows])
             .values_list("item__row", "source", "value", "posterior_yes"))
    expert, crowd, p_yes = {}, {}, {}
    for row, source, value, posterior in found:
        if source == LabelSource.EXPERT:
            expert[row] = int(value)
        else:
            crowd[row] = int(value)
            p_yes[row] = float(value) if posterior is None else float(posterior)
    return {EXPERT: np.array([expert.get(int(r), -1) for r in rows], dtype=np.int64),
            CROWD_HARD: np.array([crowd.get(int(r), -1) for r in rows], dtype=np.int64),
            CROWD_POSTERIOR: np.array([p_yes.get(int(r), np.nan) for r in rows], dtype=np.float64)}


METRICS = ("auc_pr", "auc_roc", "f1", "accuracy", "precision", "recall")


def _summary(estimates: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in METRICS:
        estimate = estimates.get(name)
        if estimate is None:
            continue
        value = float(estimate.value)
        out[name] = None if not np.isfinite(value) else round(value, 4)
        out[f"{name}_low"] = None if not np.isfinite(estimate.low) else round(float(estimate.low), 4)
        out[f"{name}_high"] = None if not np.isfinite(estimate.high) else round(float(estimate.high), 4)
    return out


def evaluation_progress(concept: Concept, pool: Pool) -> dict[str, Any]:
    """The expert's evaluation batches (latest batch, items, rated) and, under ``crowd``,
    the crowd's evaluation batches (latest batch, items, items with an aggregated label)."""
    eval_items = Assignment.objects.filter(batch__concept=concept, batch__kind=BatchKind.EVALUATION,
                                           item__pool=pool)
    crowd_items = studio.crowd_evaluation_items(concept).filter(item__pool=pool)
    labelled = Label.objects.filter(concept=concept, source=LabelSource.AGGREGATED,
                                    item_id__in=crowd_items.values("item_id")).count()
    return {"batch": eval_items.order_by("-batch_id").values_list("batch_id", flat=True).first(),
            "size": eval_items.count(), "rated": eval_items.filter(status="answered").count(),
            "crowd": {"batch": crowd_items.order_by("-collection__batch_id").values_list("collection__batch_id",
                                                                                          flat=True).first(),
                      "size": crowd_items.values("item_id").distinct().count(), "labelled": labelled}}


def concept_metrics(concept: Concept, pool: Pool) -> dict[str, Any]:
    """Metrics for zero-shot and every model, plus the evaluation set's progress (a
    sharded pool: ``storage.ShardedPoolUnsupported``, a 409 in the API)."""
    storage.one_store_only(pool, "the evaluation metrics")
    evaluation = evaluation_progress(concept, pool)
    versions = list(ModelVersion.objects.filter(concept=concept, pool=pool).order_by("number"))
    if (evaluation["size"] == 0 and evaluation["crowd"]["size"] == 0) or not storage.index_path(pool).exists():
        return {"zero_shot": None, "models": [_model_row(v, {}) for v in versions], "evaluation": evaluation}
    sample, scores, rows = evaluation_sample(concept, pool)
    labels = _labels_of_rows(concept, pool, rows[sample.indices])
    results = {name: _by_basis(sample, name, scores[name], labels) for name in scores}
    record_metrics(versions, results, evaluation)
    return {"zero_shot": results[ZERO_SHOT] or None,
            "models": [_model_row(v, results.get(f"v{v.number}", {})) for v in versions],
            "evaluation": evaluation}


def _by_basis(sample: EvaluationSample, name: str, scores: np.ndarray,
              labels: dict[str, np.ndarray]) -> dict[str, Any]:
    """One model's metrics: the expert's if they give an estimate, else the crowd
    posteriors', marked with ``evaluated_on``; every basis under ``evaluations``; and
    ``crowd_bias`` (crowd-posterior minus expert, per metric) where both exist."""
    evaluations = {basis: _estimate_or_empty(sample, name, scores, labels[basis], basis) for basis in LABEL_BASES}
    evaluations = {basis: summary for basis, summary in evaluations.items() if summary}
    main = EXPERT if EXPERT in evaluations else CROWD_POSTERIOR if CROWD_POSTERIOR in evaluations else None
    if main is None:
        return {}
    out: dict[str, Any] = {**evaluations[main], "evaluated_on": main, "evaluations": evaluations}
    if EXPERT in evaluations and CROWD_POSTERIOR in evaluations:
        expert, crowd = evaluations[EXPERT], evaluations[CROWD_POSTERIOR]
        out["crowd_bias"] = {m: None if expert.get(m) is None or crowd.get(m) is None
                             else round(crowd[m] - expert[m], 4) for m in METRICS}
    return out


def record_metrics(versions: list[ModelVersion], results: dict[str, dict[str, Any]],
                   evaluation: dict[str, Any]) -> None:
    """Keep each version's latest evaluation in ``ModelVersion.metrics`` (its model card):
    the estimates with their 95 % intervals, zero-shot's on the same sample, and how many
    of the evaluation set's items were rated. Written only when something changed."""
    for version in versions:
        own = results.get(f"v{version.number}", {})
        metrics = {**own, "zero_shot": results.get(ZERO_SHOT) or None,
                   "evaluation": {"batch": evaluation["batch"], "size": evaluation["size"],
                                  "rated": evaluation["rated"], "crowd": evaluation["crowd"]}} if own else {}
        if metrics and metrics != version.metrics:
            ModelVersion.objects.filter(pk=version.pk).update(metrics=metrics)
            version.metrics = metrics


def _estimate_or_empty(sample: EvaluationSample, name: str, scores: np.ndarray, labels: np.ndarray,
                       basis: str = EXPERT) -> dict[str, Any]:
    own = sample.models[name]
    own_labels = labels[np.searchsorted(sample.indices, own.indices)]
    hard = own_labels >= 0.5 if basis == CROWD_POSTERIOR else own_labels
    known = np.isfinite(own_labels) if basis == CROWD_POSTERIOR else own_labels >= 0
    if known.sum() < 2 or len(np.unique(hard[known])) < 2:
        return {}  # needs at least one rated positive and one rated negative
    try:
        if basis == CROWD_POSTERIOR:
            return _summary(posterior_estimate(sample, name, scores, labels, rng=np.random.default_rng(0)))
        return _summary(weighted_estimate(sample, name, scores, labels, rng=np.random.default_rng(0)))
    except NotEnoughLabelsError:
        return {}  # a stratum has items but none of its sample is rated yet: no estimate until it is


def _model_row(version: ModelVersion, metrics: dict[str, Any]) -> dict[str, Any]:
    """``labels``: how many labels it was trained on; ``evaluated_on``: which labels its
    metrics rest on (expert / crowd-posterior; None before any estimate)."""
    return {"id": version.pk, "number": version.number, "round": version.round, "labels": version.label_count,
            "source": version.source, **{k: None for k in ("auc_pr", "auc_roc", "f1", "accuracy")},
            "evaluated_on": None, "evaluations": {}, **metrics}
