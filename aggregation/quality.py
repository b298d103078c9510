"""Crowd quality of a concept, computed here (never in pages): per worker and per cohort,
inter-annotator agreement per crowd batch, and the items where crowd and expert disagree.

- A worker's accuracy on golds is their ``WorkerSkill`` (Beta posterior with the cohort
  prior, 95 % interval), the one aggregation uses; a cohort's is the pooled count of its
  workers' gold answers, Beta(1 + correct, 1 + wrong) with its 95 % interval.
- Answers are the live (not retracted) answers to the concept's crowd batches, golds
  included; don't-know and broken rates are shares of them; median seconds is over the
  answers that carry a time.
- Agreement with the final labels: the share of a worker's yes/no answers to work items
  that match the item's aggregated label.
- Krippendorff's alpha (nominal, the ``krippendorff`` package) of a batch is over its
  yes/no answers (workers x items); its 95 % interval is a percentile bootstrap over
  items (resampled with replacement, a fixed seed), as Hayes & Krippendorff (2007)
  suggest. Alpha is undefined (None) with fewer than two items answered twice or when
  every answer is the same.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from statistics import median
from typing import Any

import krippendorff
import numpy as np

from aggregation.engine import beta_summary
from aggregation.models import Collection, CollectionItem, WorkerSkill
from aggregation.progress import collection_progress
from labeling.choices import AnswerValue, BatchKind, LabelSource
from labeling.models import Answer, Concept, Label

BOOTSTRAP_SAMPLES = 500
BOOTSTRAP_SEED = 0
VOTES = {AnswerValue.YES.value: 1.0, AnswerValue.NO.value: 0.0}


def crowd_answers(concept: Concept) -> list[dict[str, Any]]:
    """Every live answer to the concept's crowd batches: batch, item, worker, value, seconds."""
    rows = (Answer.objects.filter(assignment__batch__concept=concept, assignment__batch__kind=BatchKind.CROWD,
                                  retracted_at__isnull=True)
            .order_by("id")
            .values("id", "assignment__batch_id", "assignment__item_id", "worker_id", "worker__username",
                    "value", "seconds"))
    return [{"answer": r["id"], "batch": r["assignment__batch_id"], "item": r["assignment__item_id"],
             "worker": r["worker_id"], "username": r["worker__username"], "value": r["value"],
             "seconds": r["seconds"]} for r in rows]


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def _rates(answers: list[dict[str, Any]], finals: dict[int, bool], golds: set[int]) -> dict[str, Any]:
    """Answer counts, median seconds, don't-know / broken rates, agreement with final labels."""
    n = len(answers)
    seconds = [a["seconds"] for a in answers if a["seconds"] is not None]
    compared = [a for a in answers if a["value"] in VOTES and a["item"] in finals and a["item"] not in golds]
    agreeing = sum((a["value"] == AnswerValue.YES) == finals[a["item"]] for a in compared)
    return {
        "answers": n,
        "median_seconds": _rounded(median(seconds), 2) if seconds else None,
        "dont_know_rate": _rounded(sum(a["value"] == AnswerValue.DONT_KNOW for a in answers) / n) if n else None,
        "broken_rate": _rounded(sum(a["value"] == AnswerValue.BROKEN for a in answers) / n) if n else None,
        "agreement_compared": len(compared),
        "agreement": _rounded(agreeing / len(compared)) if compared else None,
    }


def _finals(concept: Concept) -> dict[int, bool]:
    return dict(Label.objects.filter(concept=concept, source=LabelSource.AGGREGATED).values_list("item_id", "value"))


def _golds(concept: Concept) -> set[int]:
    return set(CollectionItem.objects.filter(collection__batch__concept=concept, is_gold=True)
               .values_list("item_id", flat=True))


def worker_quality(concept: Concept, answers: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per worker who has a skill on the concept or answered its crowd batches."""
    answers = crowd_answers(concept) if answers is None else answers
    finals, golds = _finals(concept), _golds(concept)
    by_worker: dict[int, list[dict[str, Any]]] = defaultdict(list)
    names: dict[int, str] = {}
    for answer in answers:
        by_worker[answer["worker"]].append(answer)
        names[answer["worker"]] = answer["username"]
    skills = {s.worker_id: s for s in WorkerSkill.objects.filter(concept=concept).select_related("worker", "cohort")}
    rows = []
    for worker in sorted(set(by_worker) | set(skills), key=lambda w: (names.get(w) or skills[w].worker.username)):
        skill = skills.get(worker)
        rows.append({
            "worker": worker, "username": skill.worker.username if skill else names[worker],
            "skill": skill.pk if skill else None,
            "cohort": skill.cohort_id if skill else None,
            "cohort_name": skill.cohort.name if skill and skill.cohort else None,
            "status": skill.status if skill else None, "paused_by": skill.paused_by if skill else "",
            "gold_answered": skill.gold_answered if skill else 0, "gold_correct": skill.gold_correct if skill else 0,
            "accuracy": _rounded(skill.accuracy) if skill else None,
            "accuracy_low": _rounded(skill.accuracy_low) if skill else None,
            "accuracy_high": _rounded(skill.accuracy_high) if skill else None,
            **_rates(by_worker.get(worker, []), finals, golds),
        })
    return rows


def cohort_quality(concept: Concept, answers: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Per cohort the concept's crowd batches went to: pooled gold accuracy with its
    interval, answer rates, and the batches' answers, cost and cost per confident label."""
    answers = crowd_answers(concept) if answers is None else answers
    finals, golds = _finals(concept), _golds(concept)
    collections = list(Collection.objects.filter(batch__concept=concept).select_related("batch__cohort"))
    cohorts: dict[int | None, dict[str, Any]] = {}
    for collection in collections:
        cohort = collection.batch.cohort
        entry = cohorts.setdefault(cohort.pk if cohort else None, {
            "cohort": cohort.pk if cohort else None, "name": cohort.name if cohort else "(no cohort)",
            "batches": [], "cost": Decimal(0), "confident": 0})
        progress = collection_progress(collection)
        entry["batches"].append(collection.batch_id)
        entry["cost"] += Decimal(progress["cost"])
        entry["confident"] += progress["confident"]
    batch_cohort = {c.batch_id: (c.batch.cohort_id if c.batch.cohort else None) for c in collections}
    skills = WorkerSkill.objects.filter(concept=concept)
    rows = []
    for key, entry in cohorts.items():
        members = skills.filter(cohort_id=key) if key is not None else skills.filter(cohort__isnull=True)
        correct = sum(s.gold_correct for s in members)
        answered = sum(s.gold_answered for s in members)
        summary = beta_summary(np.array([correct]), np.array([answered]), 0.5, 2.0)
        own = [a for a in answers if batch_cohort.get(a["batch"], "missing") == key]
        rows.append({
            "cohort": key, "name": entry["name"], "batches": entry["batches"], "workers": members.count(),
            "gold_answered": answered, "gold_correct": correct,
            "accuracy": _rounded(correct / answered) if answered else None,
            "accuracy_low": _rounded(float(summary.lower[0])) if answered else None,
            "accuracy_high": _rounded(float(summary.upper[0])) if answered else None,
            **_rates(own, finals, golds),
            "cost": str(entry["cost"]), "confident_labels": entry["confident"],
            "cost_per_confident_label": str((entry["cost"] / entry["confident"]).quantize(Decimal("0.0001")))
            if entry["confident"] else None,
        })
    return rows


def reliability_matrix(answers: list[dict[str, Any]]) -> np.ndarray:
    """(workers, items) float64 of 1 (yes) / 0 (no), NaN where a worker gave no yes/no answer."""
    votes = [a for a in answers if a["value"] in VOTES]
    workers = sorted({a["worker"] for a in votes})
    items = sorted({a["item"] for a in votes})
    w_index = {w: i for i, w in enumerate(workers)}
    i_index = {it: j for j, it in enumerate(items)}
    matrix = np.full((len(workers), len(items)), np.nan)
    for a in votes:
        matrix[w_index[a["worker"]], i_index[a["item"]]] = VOTES[a["value"]]
    return matrix


def _alpha(matrix: np.ndarray) -> float | None:
    pairable = matrix[:, (~np.isnan(matrix)).sum(axis=0) >= 2]
    values = pairable[~np.isnan(pairable)]
    if pairable.shape[1] < 2 or len(np.unique(values)) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=pairable, level_of_measurement="nominal"))


def krippendorff_alpha(matrix: np.ndarray, samples: int = BOOTSTRAP_SAMPLES,
                       seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """Alpha of a (workers, items) reliability matrix and its 95 % bootstrap interval."""
    pairable = matrix[:, (~np.isnan(matrix)).sum(axis=0) >= 2] if matrix.size else matrix
    alpha = _alpha(pairable) if pairable.size else None
    out: dict[str, Any] = {"alpha": _rounded(alpha), "alpha_low": None, "alpha_high": None,
                           "items_pairable": int(pairable.shape[1]) if pairable.size else 0, "bootstrap": samples}
    if alpha is None:
        return out
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(samples):
        value = _alpha(pairable[:, rng.integers(0, pairable.shape[1], pairable.shape[1])])
        if value is not None:
            draws.append(value)
    if draws:
        out["alpha_low"], out["alpha_high"] = (_rounded(float(q)) for q in np.percentile(draws, [2.5, 97.5]))
    return out


def batch_agreement(concept: Concept, answers: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Krippendorff's alpha with its bootstrap interval, per crowd batch of the concept."""
    answers = crowd_answers(concept) if answers is None else answers
    by_batch: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for answer in answers:
        by_batch[answer["batch"]].append(answer)
    batches = Collection.objects.filter(batch__concept=concept).values_list("batch_id", flat=True)
    return [{"batch": batch, "answers": len(by_batch.get(batch, [])),
             **krippendorff_alpha(reliability_matrix(by_batch.get(batch, [])))} for batch in batches]


def disagreements(concept: Concept) -> list[dict[str, Any]]:
    """Items both the expert and the crowd labelled, where their labels differ: the
    concept's borderline cases."""
    expert = dict(Label.objects.filter(concept=concept, source=LabelSource.EXPERT).values_list("item_id", "value"))
    crowd = Label.objects.filter(concept=concept, source=LabelSource.AGGREGATED, item_id__in=list(expert)) \
        .select_related("item").order_by("item_id")
    return [{"item": label.item_id, "key": label.item.key, "expert": expert[label.item_id], "crowd": label.value,
             "posterior_yes": _rounded(label.posterior_yes), "n_answers": label.n_answers, "method": label.method}
            for label in crowd if label.value != expert[label.item_id]]


def crowd_quality(concept: Concept) -> dict[str, Any]:
    """Everything the dashboard's crowd-quality panel shows for one concept."""
    answers = crowd_answers(concept)
    return {"concept": concept.pk, "cohorts": cohort_quality(concept, answers),
            "workers": worker_quality(concept, answers), "batches": batch_agreement(concept, answers),
            "disagreements": disagreements(concept)}
