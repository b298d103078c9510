"""The live step: what happens, inside the answer's own transaction, after a crowd answer.

``labeling.services.submit_answer`` sends ``answer_stored`` inside its transaction, by
whichever path the answer came (the task page, the API, the headless crowd), and this
module's receiver runs the step under the item's row lock:

- a gold item updates the worker's skill (onboarding, accuracy, pausing);
- a work item is refused when it already holds ``kappa`` answers, when it is done, or
  when the budget is spent (the answer then rolls back with a 409);
- otherwise its answers are aggregated with the batch's method and the workers' current
  accuracies (``ConfidenceThreshold.step``): when the confidence reaches tau (once the
  item holds the batch's initial ``overlap`` answers), kappa answers are in or nobody is
  left to ask, the item is done and its aggregated ``Label``
  and a ``Decision`` (the answers and accuracies used) are written; otherwise the item
  goes back to the queue. Under uncertainty sampling every answer updates the label.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Subquery
from django.dispatch import receiver
from django.utils import timezone

from aggregation import skills
from aggregation.engine import ConfidenceThreshold
from aggregation.models import Collection, CollectionItem, Decision, Policy, WorkerSkill
from aggregation.work import announce_work
from jobs.events import publish
from labeling.choices import AnswerValue, AssignmentStatus, BatchKind, LabelSource, Role
from labeling.errors import Conflict
from labeling.models import Answer, Assignment, Label
from labeling.signals import answer_retracted, answer_stored

YES, NO = 1, 0


@receiver(answer_stored, dispatch_uid="aggregation.live.on_answer")
def on_answer(sender: Any, answer: Answer, assignment: Assignment, **_: Any) -> None:
    if assignment.batch.kind != BatchKind.CROWD:
        return
    collection = Collection.objects.filter(batch_id=assignment.batch_id).first()
    if collection is None:
        return
    collection.batch = assignment.batch  # loaded with its concept by submit_answer: no query for either
    rows = CollectionItem.objects.select_related("item")
    locked = rows.select_for_update(of=("self",)) if connection.vendor == "postgresql" else rows.select_for_update()
    item = locked.filter(collection=collection, item_id=assignment.item_id).first()
    if item is None:
        return  # assigned by hand outside the collection's queue: an answer, not crowd collection
    if item.is_gold:
        _gold_answer(collection, item, answer, assignment)
        return
    _refuse_if_full(collection, item)
    step(collection, item)
    _count_spent(collection)
    if item.status == CollectionItem.Status.DONE:
        # After the collection row's lock (_count_spent): an answer finishing another item
        # at the same time has committed by now, so the last one to commit sees no item
        # left open and finishes the batch (checked before the lock, both saw the other
        # item open and neither finished it).
        _after_done(collection, item)


@receiver(answer_retracted, dispatch_uid="aggregation.live.on_retract")
def on_retract(sender: Any, answer: Answer, assignment: Assignment, **_: Any) -> None:
    if assignment.batch.kind == BatchKind.CROWD:
        raise Conflict("Crowd answers cannot be undone: they may already have decided a label or a score.")


def _gold_answer(collection: Collection, item: CollectionItem, answer: Answer, assignment: Assignment) -> None:
    batch = assignment.batch
    skill = skills.skill_of(batch.concept_id, answer.worker, batch.cohort_id, lock=True)
    golds = collection.n_golds
    onboarding = skill.status == skill.Status.ONBOARDING
    assert item.expected is not None
    skills.record_gold_answer(skill, answer.value, item.expected, collection, onboarding=onboarding,
                              golds_available=golds)


def _refuse_if_full(collection: Collection, item: CollectionItem) -> None:
    if item.status == CollectionItem.Status.DONE or item.n_answers >= collection.kappa:
        raise Conflict("This item needs no more answers (your lease had expired). Ask for your next task.")


def _count_spent(collection: Collection) -> None:
    """One more work answer on the collection's counter, refused past the budget. Done
    last in the answer's transaction, so the collection row is locked only until commit."""
    counted = Collection.objects.filter(pk=collection.pk)
    if collection.budget is not None:
        counted = counted.filter(spent__lt=collection.budget)
    if not counted.update(spent=F("spent") + 1):
        raise Conflict("This batch's budget is spent (your lease had expired).")


def _answers_of(collection: Collection, item: CollectionItem) -> list[tuple[int, int, str, float | None]]:
    """(answer id, worker id, value, the worker's accuracy on the concept or None when
    unassessed) of the item's live answers in this batch, oldest first: one query."""
    accuracy = WorkerSkill.objects.filter(concept_id=collection.batch.concept_id, worker_id=OuterRef("worker_id"))
    return list(Answer.objects.filter(assignment__batch_id=collection.batch_id, assignment__item_id=item.item_id,
                                      retracted_at__isnull=True).order_by("id")
                .annotate(accuracy=Subquery(accuracy.values("accuracy")[:1]))
                .values_list("id", "worker_id", "value", "accuracy"))


def anyone_left(collection: Collection, item: CollectionItem, now: Any) -> bool:
    """Whether a worker could still be asked about the item, or holds a lease on it now
    (their answer is on the way): False means nobody will ever answer it again."""
    batch = collection.batch
    people = get_user_model().objects.filter(memberships__project_id=batch.concept.project_id,
                                             memberships__role=Role.WORKER)
    if batch.cohort_id:
        people = people.filter(cohorts=batch.cohort_id)
    given = Assignment.objects.filter(batch__concept_id=batch.concept_id, batch__kind=BatchKind.CROWD,
                                      item_id=item.item_id)
    blocked = WorkerSkill.objects.filter(concept_id=batch.concept_id,
                                         status__in=(WorkerSkill.Status.FAILED, WorkerSkill.Status.PAUSED))
    fresh = people.exclude(pk__in=given.values("assignee_id")).exclude(pk__in=blocked.values("worker_id"))
    pending = given.filter(batch_id=batch.pk, status=AssignmentStatus.OPEN, expires_at__gt=now)
    # One statement for both: SELECT EXISTS(pending) OR EXISTS(fresh).
    return CollectionItem.objects.filter(pk=item.pk).filter(Exists(pending) | Exists(fresh)).exists()


def step(collection: Collection, item: CollectionItem) -> CollectionItem:
    """Aggregate the (locked) item's answers; finish it and write its label when done
    (the caller then runs ``_after_done``: the batch may be finished, the event is sent)."""
    batch = collection.batch
    rows = _answers_of(collection, item)
    answers = [(a, w, v) for a, w, v, _ in rows]
    votes = [(a, w, v) for a, w, v in answers if v in (AnswerValue.YES, AnswerValue.NO)]
    accuracy = skills.with_priors({w: acc for _, w, _, acc in rows}, batch.concept_id, batch.cohort_id)
    labels = np.array([YES if v == AnswerValue.YES else NO for _, _, v in votes], dtype=np.int64)
    acc = np.array([accuracy[w] for _, w, _ in votes], dtype=np.float64)
    tau = collection.tau if collection.policy == Policy.THRESHOLD else float("inf")
    decided = ConfidenceThreshold(tau, collection.kappa, collection.method).step(
        labels, acc, 2, task_code=item.item_id, seed=collection.seed)
    reason = decided.reason
    if reason == "confident" and len(answers) < collection.overlap:
        reason = "open"  # the initial overlap: every item gets ``overlap`` answers before the stop rule may end it
    if reason == "open" and len(answers) >= collection.kappa:
        reason = "kappa"
    if item.item.flagged_broken:
        reason = "broken"
    elif reason == "open" and not anyone_left(collection, item, timezone.now()):
        reason = "no_workers"
    item.n_answers, item.n_votes = len(answers), len(votes)
    item.posterior_yes = float(decided.posterior[YES]) if votes else None
    done = reason != "open"
    item.status = CollectionItem.Status.DONE if done else CollectionItem.Status.OPEN
    item.reason = reason if done else ""
    item.save(update_fields=["n_answers", "n_votes", "posterior_yes", "status", "reason", "updated_at"])
    if (done or collection.policy == Policy.UNCERTAINTY) and reason != "broken":
        inputs = [{"answer": a, "worker": w, "value": v, "accuracy": round(accuracy[w], 6)} for a, w, v in answers]
        write_decision(collection, item, collection.method, decided.posterior[YES] if votes else None,
                       decided.label == YES, len(answers), reason if done else "open", inputs)
    if not done:
        announce_work(batch)  # it wants another worker
    return item


def write_decision(collection: Collection, item: CollectionItem, method: str, posterior_yes: float | None,
                   yes: bool, n_answers: int, reason: str, inputs: list[dict[str, Any]],
                   job: Any = None) -> Decision:
    """The item's aggregated label (created or updated; none without a vote) and a new,
    never-updated decision record of how it was reached."""
    label = None
    if posterior_yes is not None:
        p_yes = float(posterior_yes)
        confidence = min(max(p_yes if yes else 1.0 - p_yes, 0.0), 1.0)
        label, _ = Label.objects.update_or_create(
            item_id=item.item_id, concept_id=collection.batch.concept_id, source=LabelSource.AGGREGATED,
            defaults={"value": yes, "confidence": confidence, "method": method, "posterior_yes": p_yes,
                      "n_answers": n_answers})
    return Decision.objects.create(
        collection=collection, item_id=item.item_id, label=label, method=method,
        value=None if label is None else yes, posterior_yes=None if label is None else label.posterior_yes,
        confidence=None if label is None else label.confidence, n_answers=n_answers, reason=reason,
        inputs=inputs, job=job)


def _after_done(collection: Collection, item: CollectionItem) -> None:
    project_id = collection.batch.concept.project_id
    batch_id = collection.batch_id
    remaining = collection.items.filter(is_gold=False, status=CollectionItem.Status.OPEN).exists()
    if not remaining:
        Collection.objects.filter(pk=collection.pk).update(status=Collection.Status.FINISHED,
                                                           finished_at=timezone.now())
    payload = {"batch": batch_id, "item": item.item_id, "reason": item.reason, "finished": not remaining}
    transaction.on_commit(lambda: publish(project_id, "crowd.item_done", payload))
