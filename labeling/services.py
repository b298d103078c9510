"""State changes of the labeling side. Views call these; rules live here, not in views."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.events import publish
from labeling.choices import AnswerValue, AssignmentStatus, BatchKind, BatchStatus, LabelSource, Role
from labeling.conf import agile
from labeling.errors import Conflict
from labeling.models import Answer, Assignment, Item, Label, Membership, Project
from labeling.signals import answer_retracted, answer_stored

EXPERT_BATCH_KINDS = {BatchKind.EXPERT_RATING, BatchKind.EVALUATION}


def create_project(*, user: Any, name: str, description: str = "") -> Project:
    """A new project; its creator manages it."""
    with transaction.atomic():
        project = Project.objects.create(name=name, description=description, created_by=user)
        Membership.objects.create(project=project, user=user, role=Role.MANAGER)
    return project


def submit_answer(
    *, worker: Any, assignment: Assignment, value: str, client_id: uuid.UUID, seconds: float | None
) -> tuple[Answer, bool]:
    """Store a person's answer once. Returns ``(answer, created)``.

    Replaying the same ``client_id`` with the same content returns the stored answer
    (``created`` False); reusing it for different content, or answering an assignment
    that already has a live answer, raises ``Conflict`` (HTTP 409). Nothing is overwritten.
    """
    try:
        with transaction.atomic():
            # Only the assignment's row (of=self): locking the joined batch row too would
            # serialise every answer of a batch and deadlock with a lease being inserted
            # (its foreign key takes a KEY SHARE lock on the batch) under the crowd's load.
            locked = Assignment.objects.select_for_update(of=("self",)).select_related("batch__concept") \
                .get(pk=assignment.pk)
            # A replay (the same client id again, e.g. a retry after a lost response) finds
            # the stored answer here; concurrent replays queue on the lock, the first
            # stores the answer and each one after it finds it (not a 409). Checked only
            # under the lock: one query per answer, not two.
            replay = _replayed(worker, client_id, assignment, value)
            if replay is not None:
                return replay, False
            _check_open(locked)
            answer = Answer.objects.create(
                assignment=locked, worker=worker, value=value, client_id=client_id, seconds=seconds
            )
            Assignment.objects.filter(pk=locked.pk).update(status=AssignmentStatus.ANSWERED)
            _after_answer(locked, answer)
    except IntegrityError:
        # A concurrent request won the race; report what it stored.
        replay = _replayed(worker, client_id, assignment, value)
        if replay is not None:
            return replay, False
        raise Conflict("This assignment already has an answer.") from None
    return answer, True


def _replayed(worker: Any, client_id: uuid.UUID, assignment: Assignment, value: str) -> Answer | None:
    previous = Answer.objects.filter(worker=worker, client_id=client_id).first()
    if previous is None:
        return None
    if previous.assignment_id != assignment.pk or previous.value != value:
        raise Conflict("This client_id was already used for a different answer.")
    return previous


def _check_open(assignment: Assignment) -> None:
    if assignment.batch.status == BatchStatus.CLOSED:
        raise Conflict("This batch is closed.")
    if assignment.status == AssignmentStatus.ANSWERED:
        raise Conflict("This assignment already has an answer.")


def _after_answer(assignment: Assignment, answer: Answer) -> None:
    if answer.value == AnswerValue.BROKEN:
        _flag_if_broken(assignment.item_id)
    answer_stored.send(sender=Answer, answer=answer, assignment=assignment)
    concept = assignment.batch.concept
    if assignment.batch.kind == BatchKind.EVALUATION:
        # Every open studio of the concept refreshes its metrics once the answer is stored.
        transaction.on_commit(lambda: publish(concept.project_id, "metrics.updated", {"concept": concept.pk}))
    is_expert = assignment.batch.kind in EXPERT_BATCH_KINDS and answer.worker_id == concept.owner_id
    if is_expert and answer.value in (AnswerValue.YES, AnswerValue.NO):
        Label.objects.update_or_create(
            item_id=assignment.item_id, concept=concept, source=LabelSource.EXPERT,
            defaults={"value": answer.value == AnswerValue.YES, "confidence": 1.0, "method": "expert"},
        )


def _flag_if_broken(item_id: int) -> None:
    reports = Answer.objects.filter(
        assignment__item_id=item_id, value=AnswerValue.BROKEN, retracted_at__isnull=True
    ).count()
    if reports >= agile.BROKEN_REPORTS_TO_FLAG:
        Item.objects.filter(pk=item_id).update(flagged_broken=True)


def retract_answer(*, user: Any, answer: Answer) -> Answer:
    """Undo: the answer is kept but marked retracted, and its assignment reopens."""
    with transaction.atomic():
        locked = Answer.objects.select_for_update(of=("self",)).select_related("assignment__batch__concept") \
            .get(pk=answer.pk)
        if locked.worker_id != user.pk:
            raise Conflict("Only the person who answered can undo this answer.")
        if locked.retracted_at is not None:
            return locked
        if locked.assignment.batch.status == BatchStatus.CLOSED:
            raise Conflict("This batch is closed.")
        locked.retracted_at = timezone.now()
        locked.save(update_fields=["retracted_at"])
        Assignment.objects.filter(pk=locked.assignment_id).update(status=AssignmentStatus.OPEN)
        answer_retracted.send(sender=Answer, answer=locked, assignment=locked.assignment)
        concept = locked.assignment.batch.concept
        if locked.worker_id == concept.owner_id:
            Label.objects.filter(
                item_id=locked.assignment.item_id, concept=concept, source=LabelSource.EXPERT
            ).delete()
    return locked


def create_batch(*, concept: Any, kind: str, items: list[int], assignee: Any, round: int = 0,
                 selection: str = "manual", params: dict[str, Any] | None = None) -> Any:
    """A batch of ``items`` (item ids, in rating order), each assigned to ``assignee``."""
    from labeling.models import Batch

    with transaction.atomic():
        batch = Batch.objects.create(concept=concept, kind=kind, round=round, selection=selection,
                                     selection_params=params or {}, created_by=assignee)
        Assignment.objects.bulk_create(
            Assignment(batch=batch, item_id=item_id, assignee=assignee, position=position)
            for position, item_id in enumerate(items)
        )
    return batch


class AssessmentError(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def build_assessment_set(*, concept: Any, user: Any, name: str, size: int | None = None,
                         items: list[int] | None = None, seed: int = 0) -> Any:
    """An assessment set from the expert's own labels of the concept: hand-picked ``items``
    (each must carry an expert label) or, with ``size``, a seeded balanced draw of
    ``size // 2`` yes and ``size - size // 2`` no labels. Evaluation items are left out."""
    import random

    from labeling.models import AssessmentItem, AssessmentSet

    labels = Label.objects.filter(concept=concept, source=LabelSource.EXPERT).exclude(
        item_id__in=Assignment.objects.filter(batch__concept=concept, batch__kind=BatchKind.EVALUATION)
        .values("item_id"))
    known = dict(labels.values_list("item_id", "value"))
    if items is not None:
        unlabelled = [i for i in items if i not in known]
        if unlabelled:
            raise AssessmentError(f"{len(unlabelled)} of the items carry no expert label for this concept "
                                  f"(e.g. item {unlabelled[0]}).", "items")
        chosen = list(dict.fromkeys(items))
    else:
        wanted = {True: (size or 0) // 2, False: (size or 0) - (size or 0) // 2}
        rng = random.Random(seed)
        chosen = []
        for value, count in wanted.items():
            pool = sorted(i for i, v in known.items() if v is value)
            if len(pool) < count:
                word = "yes" if value else "no"
                raise AssessmentError(f"Only {len(pool)} expert {word} labels to draw {count} from; rate more, "
                                      "or ask for a smaller set.", "size")
            chosen += rng.sample(pool, count)
    with transaction.atomic():
        assessment = AssessmentSet.objects.create(concept=concept, name=name, created_by=user)
        AssessmentItem.objects.bulk_create(AssessmentItem(assessment_set=assessment, item_id=i, expected=known[i])
                                           for i in chosen)
    return assessment
