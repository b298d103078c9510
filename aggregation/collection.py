"""Crowd batches: a batch of items handed to a cohort, with its collection settings.

``create_crowd_batch`` makes the Batch (kind crowd), its Collection and one
CollectionItem per work item and per gold item of the assessment set. Which items to
send is the caller's business (the studio's "send to the crowd" in modeling picks them
from a round, the model's most uncertain items, a random sample or a list).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

from aggregation.models import Collection, CollectionItem, Method, Policy
from aggregation.work import announce_work
from jobs.events import publish
from labeling.choices import BatchKind
from labeling.models import AssessmentSet, Batch, Cohort, Concept, Item, TaskTemplate
from labeling.serializers import default_question

#: Methods the live step runs per answer; the EM methods run as re-aggregation jobs.
LIVE_METHODS = tuple(Method.values)
NEEDS_ACCURACIES = ("gtx", "wmv", "sv")


class CrowdBatchError(ValueError):
    """Settings or items that cannot make a crowd batch; ``field`` names the input."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CrowdSettings:
    """The settings of ``aggregation/engine/policies.py`` for one batch (defaults as there)."""

    method: str = Method.GTX
    policy: str = Policy.THRESHOLD
    tau: float = 0.95
    kappa: int = 5
    overlap: int = 1
    budget: int | None = None
    gold_rate: float = 0.1
    price: Decimal = Decimal("0")
    lease_seconds: int = 600
    onboarding: int = 10
    pass_bar: float = 0.7
    pause_bar: float = 0.6
    seed: int = 0


def template_for(concept: Concept, template: TaskTemplate | None, user: Any) -> TaskTemplate:
    """The given template, else the concept's latest, else a new one with the default question."""
    if template is not None:
        return template
    latest = concept.templates.order_by("-id").first()
    if latest is not None:
        return latest
    return TaskTemplate.objects.create(concept=concept, question=default_question(concept),
                                       description=concept.description, created_by=user)


def assessment_for(concept: Concept, cohort: Cohort | None, given: AssessmentSet | None) -> AssessmentSet | None:
    """The batch's own set, else the concept's set attached to the cohort, else none."""
    if given is not None:
        return given
    if cohort is None:
        return None
    return concept.assessment_sets.filter(cohorts=cohort).order_by("-id").first()


def create_crowd_batch(*, concept: Concept, items: list[int], user: Any, settings: CrowdSettings,
                       cohort: Cohort | None = None, template: TaskTemplate | None = None,
                       assessment_set: AssessmentSet | None = None, selection: str = "list",
                       params: dict[str, Any] | None = None) -> Batch:
    """A crowd batch of ``items`` (item ids, in queue order) for ``cohort``'s workers."""
    gold = assessment_for(concept, cohort, assessment_set)
    gold_items = dict(gold.items.values_list("item_id", "expected")) if gold is not None else {}
    work = [i for i in dict.fromkeys(items) if i not in gold_items]  # golds are never work items
    _check(concept, work, settings, gold_items)
    with transaction.atomic():
        batch = Batch.objects.create(
            concept=concept, kind=BatchKind.CROWD, selection=selection, selection_params=params or {},
            template=template_for(concept, template, user), cohort=cohort, assessment_set=gold, created_by=user)
        collection = Collection.objects.create(batch=batch, n_golds=len(gold_items), **settings.__dict__)
        rows = [CollectionItem(collection=collection, item_id=item_id, position=i) for i, item_id in enumerate(work)]
        rows += [CollectionItem(collection=collection, item_id=item_id, position=len(work) + i, is_gold=True,
                                expected=expected) for i, (item_id, expected) in enumerate(gold_items.items())]
        CollectionItem.objects.bulk_create(rows, batch_size=2000)
        event = {"batch": batch.pk, "concept": concept.pk, "kind": batch.kind, "round": batch.round,
                 "size": len(work)}
        transaction.on_commit(lambda: publish(concept.project_id, "batch.created", event))
        announce_work(batch)
    return batch


def _check(concept: Concept, work: list[int], settings: CrowdSettings, gold: dict[int, bool]) -> None:
    if not work:
        raise CrowdBatchError("A crowd batch needs at least one item that is not a gold item.", "items")
    foreign = len(work) - Item.objects.filter(pk__in=work, pool__project_id=concept.project_id).count()
    if foreign:
        raise CrowdBatchError(f"{foreign} of the items are not in this concept's project.", "items")
    if settings.method in NEEDS_ACCURACIES and not gold:
        raise CrowdBatchError(f"{settings.method} weighs workers by their accuracy on gold items: attach an "
                              "assessment set (to the batch or the cohort), or choose mv.", "assessment_set")
    if settings.kappa < 1 or settings.overlap < 1 or settings.overlap > settings.kappa:
        raise CrowdBatchError("Need 1 <= overlap <= kappa.", "overlap")
