"""The manager's figures, computed here (never in pages or templates).

Per concept: its expert rounds, its crowd batches (progress, answers, budget and cost from
``aggregation.progress``) and its models; **expert vs crowd**: every model version of the
concept on the concept's one expert-labelled evaluation set (``modeling.evaluation``),
grouped by the source of its training labels, each with the labels and the cost it took.

Cost of a model's training labels: every expert label at ``AGILE["EXPERT_PRICE_PER_LABEL"]``,
every crowd label at the price of the answers it rests on (the live answers to its item
in the concept's crowd batches, each at its batch's price per answer).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q

from aggregation.models import Collection
from aggregation.progress import collection_progress
from labeling.choices import AssignmentStatus, BatchKind, PoolStatus
from labeling.conf import agile
from labeling.models import Answer, Batch, Concept, Pool, Project
from modeling import evaluation
from modeling.models import ModelVersion
from modeling.storage import ShardedPoolUnsupported

SOURCES = ("expert", "crowd", "both")


def expert_rounds(concept: Concept) -> list[dict[str, Any]]:
    """The expert's batches (rating rounds and evaluation sets): items and how many are rated."""
    batches = (Batch.objects.filter(concept=concept, kind__in=[BatchKind.EXPERT_RATING, BatchKind.EVALUATION])
               .annotate(items=Count("assignments"),
                         rated=Count("assignments", filter=Q(assignments__status=AssignmentStatus.ANSWERED)))
               .order_by("id"))
    return [{"batch": b.pk, "kind": b.kind, "round": b.round, "selection": b.selection, "items": b.items,
             "rated": b.rated, "created_at": b.created_at.isoformat()} for b in batches]


def crowd_batches(concept: Concept) -> list[dict[str, Any]]:
    """Every crowd batch of the concept with its settings and progress figures."""
    collections = Collection.objects.filter(batch__concept=concept).select_related("batch__cohort").order_by("id")
    return [{"batch": c.batch_id, "collection": c.pk, "cohort": c.batch.cohort_id,
             "cohort_name": c.batch.cohort.name if c.batch.cohort else None, "method": c.method,
             "selection": c.batch.selection, "policy": c.policy, "tau": c.tau, "kappa": c.kappa,
             "overlap": c.overlap, "price": str(c.price), "status": c.status,
             **collection_progress(c)} for c in collections]


def concept_pool(concept: Concept) -> Pool | None:
    """The pool the concept's models are trained and evaluated on: the latest model's,
    else the project's first ready pool."""
    latest = ModelVersion.objects.filter(concept=concept, pool__isnull=False).order_by("-number").first()
    if latest is not None and latest.pool is not None and latest.pool.status == PoolStatus.READY:
        return latest.pool
    return Pool.objects.filter(project_id=concept.project_id, status=PoolStatus.READY).order_by("id").first()


def _answer_costs(concept: Concept) -> dict[int, tuple[int, Decimal]]:
    """item id -> (live crowd answers, their cost) over the concept's crowd batches."""
    prices = dict(Collection.objects.filter(batch__concept=concept).values_list("batch_id", "price"))
    rows = (Answer.objects.filter(assignment__batch__concept=concept, assignment__batch__kind=BatchKind.CROWD,
                                  retracted_at__isnull=True)
            .values("assignment__item_id", "assignment__batch_id").annotate(n=Count("pk")))
    out: dict[int, tuple[int, Decimal]] = defaultdict(lambda: (0, Decimal(0)))
    for row in rows:
        n, cost = out[row["assignment__item_id"]]
        price = Decimal(prices.get(row["assignment__batch_id"], 0))
        out[row["assignment__item_id"]] = (n + row["n"], cost + price * row["n"])
    return dict(out)


def label_spending(version: ModelVersion, costs: dict[int, tuple[int, Decimal]],
                   expert_price: Decimal) -> dict[str, Any]:
    """Labels and cost behind one model version's training labels."""
    expert = crowd = answers = 0
    cost = Decimal(0)
    for row in version.training_labels:
        source = row[2] if len(row) > 2 else "expert"
        if source == "crowd":
            crowd += 1
            n, spent = costs.get(int(row[0]), (0, Decimal(0)))
            answers += n
            cost += spent
        else:
            expert += 1
            cost += expert_price
    return {"expert_labels": expert, "crowd_labels": crowd, "crowd_answers": answers,
            "cost": str(cost.quantize(Decimal("0.01")))}


def expert_vs_crowd(concept: Concept, pool: Pool | None = None) -> dict[str, Any]:
    """Every model version of the concept on its expert evaluation set, grouped by label
    source, with labels and cost spent, zero-shot, and the evaluation set's progress."""
    pool = pool or concept_pool(concept)
    expert_price = Decimal(str(agile.EXPERT_PRICE_PER_LABEL))
    if pool is None:
        return {"concept": concept.pk, "pool": None, "zero_shot": None, "groups": {s: [] for s in SOURCES},
                "evaluation": {"batch": None, "size": 0, "rated": 0}, "expert_price_per_label": str(expert_price)}
    metrics = evaluation.concept_metrics(concept, pool)
    versions = {v.pk: v for v in ModelVersion.objects.filter(concept=concept, pool=pool)}
    costs = _answer_costs(concept)
    groups: dict[str, list[dict[str, Any]]] = {s: [] for s in SOURCES}
    for row in metrics["models"]:
        version = versions[row["id"]]
        groups.setdefault(version.source, []).append({**row, **label_spending(version, costs, expert_price)})
    missing = [s for s in SOURCES if not groups[s]]
    return {"concept": concept.pk, "pool": pool.pk, "zero_shot": metrics["zero_shot"], "groups": groups,
            "missing_sources": missing, "evaluation": metrics["evaluation"],
            "expert_price_per_label": str(expert_price),
            "note": "The evaluation sample is drawn across every model of the concept (the union of their score "
                    "strata): a new model, crowd-trained ones included, may add items for the expert to rate."}


def concept_summary(concept: Concept) -> dict[str, Any]:
    """One concept of the dashboard: its expert rounds, crowd batches and models (on a
    sharded pool, whose metrics are not computed yet, the models say why instead)."""
    try:
        models = expert_vs_crowd(concept)
    except ShardedPoolUnsupported as exc:
        pool = concept_pool(concept)
        models = {"concept": concept.pk, "pool": pool.pk if pool else None, "zero_shot": None,
                  "groups": {s: [] for s in SOURCES}, "missing_sources": [],
                  "evaluation": {"batch": None, "size": 0, "rated": 0},
                  "expert_price_per_label": str(Decimal(str(agile.EXPERT_PRICE_PER_LABEL))),
                  "unavailable": str(exc.detail), "note": str(exc.detail)}
    return {"id": concept.pk, "name": concept.name, "owner": concept.owner.username,
            "expert_rounds": expert_rounds(concept), "crowd_batches": crowd_batches(concept), "models": models}


def project_dashboard(project: Project, concepts: list[Concept]) -> dict[str, Any]:
    return {"project": project.pk, "name": project.name, "concepts": [concept_summary(c) for c in concepts]}
