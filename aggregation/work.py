"""A worker's open crowd work, per project: what their home page lists."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from aggregation.models import Collection, CollectionItem, WorkerSkill
from jobs.events import cohort_group, project_workers_group, publish_group
from labeling.choices import AssignmentStatus, BatchKind, BatchStatus, Role
from labeling.models import Assignment, Batch, Membership

#: At most one "work.available" per batch per this many seconds: an item going back to the
#: queue after every unsure answer must not flood every worker's socket.
ANNOUNCE_EVERY_SECONDS = 2


def open_work(user: Any) -> list[dict[str, Any]]:
    """Open crowd batches of the user's projects (as a worker, in the batch's cohort if it
    has one), with the user's status on each: nothing a worker may not see."""
    projects = Membership.objects.filter(user=user, role=Role.WORKER).values("project_id")
    collections = (Collection.objects.filter(status=Collection.Status.OPEN, batch__kind=BatchKind.CROWD,
                                             batch__status=BatchStatus.OPEN,
                                             batch__concept__project_id__in=projects)
                   .filter(Q(batch__cohort__isnull=True) | Q(batch__cohort__workers=user))
                   .select_related("batch__concept__project", "batch__template").distinct().order_by("batch_id"))
    statuses = dict(WorkerSkill.objects.filter(worker=user).values_list("concept_id", "status"))
    return [_entry(user, c, statuses.get(c.batch.concept_id)) for c in collections]


def _entry(user: Any, collection: Collection, status: str | None) -> dict[str, Any]:
    batch = collection.batch
    now = timezone.now()
    given = Assignment.objects.filter(assignee=user, batch__concept_id=batch.concept_id,
                                      batch__kind=BatchKind.CROWD).values("item_id")
    left = (collection.items.filter(is_gold=False, status=CollectionItem.Status.OPEN)
            .exclude(item_id__in=given).exists())
    held = Assignment.objects.filter(batch=batch, assignee=user, status=AssignmentStatus.OPEN,
                                     expires_at__gt=now).exists()
    answered = Assignment.objects.filter(batch=batch, assignee=user, status=AssignmentStatus.ANSWERED).count()
    return {"batch": batch.pk, "project": batch.concept.project_id, "project_name": batch.concept.project.name,
            "question": batch.template.question if batch.template else "", "status": status or "new",
            "has_work": bool(left or held) and status not in (WorkerSkill.Status.FAILED, WorkerSkill.Status.PAUSED),
            "answered": answered}


def announce_work(batch: Batch) -> None:
    """Tell the batch's workers (after the transaction commits) that work may be waiting."""
    if not cache.add(f"work-announced-{batch.pk}", 1, timeout=ANNOUNCE_EVERY_SECONDS):
        return
    group = cohort_group(batch.cohort_id) if batch.cohort_id else project_workers_group(batch.concept.project_id)
    payload = {"batch": batch.pk}
    transaction.on_commit(lambda: publish_group(group, "work.available", payload))
