"""Work distribution: "give me my next task" leases items of a crowd batch to a worker.

A lease is an open ``Assignment`` with ``expires_at``; once that time passes, the item
no longer counts it and another worker may be given the item. Rules, all checked under
row locks so that they hold with many workers asking at once:

- never an item the worker has been given before in any crowd batch of the concept,
  never a finished item, never more active leases on an item than it still wants
  answers (``overlap`` at first, then one at a time), never more than ``kappa`` answers;
- the collection's budget counts work answers spent plus active work leases;
- a new worker answers ``onboarding`` gold items first; a worker who failed onboarding or
  is paused gets no work; hidden golds are mixed in at ``gold_rate`` while the worker has
  golds left, and look like any other lease in every response;
- the policy orders the queue: confidence threshold finishes started items first (lowest
  position), uncertainty sampling gives every item one answer, then the most uncertain.

On PostgreSQL the candidate items are locked with ``SELECT … FOR UPDATE SKIP LOCKED``
and their capacity re-counted after the lock (a fresh statement sees every committed
lease); near the end of the budget the collection row is locked too, so the budget is
never overspent. On SQLite the write lock of the IMMEDIATE transaction serialises leasing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Abs, Coalesce, Greatest, Least
from django.utils import timezone

from aggregation import skills
from aggregation.models import Collection, CollectionItem, Policy, WorkerSkill
from labeling.choices import AssignmentStatus, BatchKind, BatchStatus, Role
from labeling.models import Assignment, Batch, Membership

#: Most leases a worker holds at once in a batch: the one on screen and the preloaded next.
MAX_HELD = 2
#: Candidates locked per attempt; a few, so concurrent workers spread over the queue.
CANDIDATES = 8
#: Below this many answers left in the budget the collection row is locked while leasing,
#: so concurrent leases cannot overspend it (above it, concurrent requests cannot either:
#: the database connection pool bounds them far below this).
BUDGET_LOCK_MARGIN = 256


class NotAWorker(Exception):
    """The person is not a worker of this batch (not in its project or cohort)."""


@dataclass
class Lease:
    """What "next" returns: the state the worker is in, and their leased assignments."""

    status: str  # "onboarding", "work", "no_work", "failed", "paused", "finished"
    message: str
    assignments: list[Assignment] = field(default_factory=list)
    onboarding: dict[str, int] | None = None
    score: dict[str, Any] | None = None


def is_worker_of(user: Any, batch: Batch) -> bool:
    """A worker of the batch's project, and of its cohort if it has one (one query)."""
    membership = Membership.objects.filter(project_id=batch.concept.project_id, user=user, role=Role.WORKER)
    if batch.cohort_id is not None:
        membership = membership.filter(user__cohorts=batch.cohort_id)
    return membership.exists()


def next_tasks(worker: Any, batch: Batch, hold: int = MAX_HELD) -> Lease:
    """The worker's leases in ``batch``, topped up to ``hold`` (1 or 2)."""
    if batch.kind != BatchKind.CROWD or not hasattr(batch, "collection"):
        raise NotAWorker("This batch takes no crowd work.")
    if not is_worker_of(worker, batch):
        raise NotAWorker("You are not a worker of this batch.")
    hold = max(1, min(hold, MAX_HELD))
    with transaction.atomic():
        return _next_locked(worker, batch, batch.collection, hold)


def _next_locked(worker: Any, batch: Batch, collection: Collection, hold: int) -> Lease:
    now = timezone.now()
    skill = skills.skill_of(batch.concept_id, worker, batch.cohort_id, lock=True)
    golds = collection.n_golds
    if skills.settle_onboarding(skill, collection, golds):
        skill.save(update_fields=["status", "updated_at"])
    if batch.status == BatchStatus.CLOSED:
        return Lease("finished", "This batch is closed. Thank you!")
    held = list(_held(worker, batch, collection, now))
    blocked = _blocked(skill, collection, batch, held)
    if blocked is not None:
        return blocked
    onboarding = skill.status == WorkerSkill.Status.ONBOARDING
    given = Assignment.objects.filter(batch=batch, assignee=worker).count()  # leases so far, for positions
    while len(held) < hold:
        if batch.status == BatchStatus.CLOSED or collection.status == Collection.Status.FINISHED:
            break
        item = _pick(worker, batch, collection, skill, given, now)
        if item is None:
            break
        held.append(_lease(worker, batch, item, now, collection.lease_seconds, given))
        given += 1
        if onboarding:
            break  # onboarding golds one at a time: the next depends on how many counted
    return _lease_state(skill, collection, golds, held)


def _held(worker: Any, batch: Batch, collection: Collection, now: Any) -> QuerySet[Assignment]:
    """The worker's unexpired leases, less those on items finished meanwhile (an answer to
    them would be refused: they are dropped, not shown)."""
    finished = collection.items.filter(item_id=OuterRef("item_id"), is_gold=False, status=CollectionItem.Status.DONE)
    return (Assignment.objects.filter(batch=batch, assignee=worker, status=AssignmentStatus.OPEN, expires_at__gt=now)
            .exclude(Exists(finished))
            .select_related("item", "assignee", "batch__template").order_by("expires_at", "id"))


def _blocked(skill: WorkerSkill, collection: Collection, batch: Batch, held: list[Assignment]) -> Lease | None:
    if skill.status == WorkerSkill.Status.FAILED:
        score = {"correct": skill.onboarding_correct, "counted": skill.onboarding_counted,
                 "pass_bar": collection.pass_bar}
        shown = f"{skill.onboarding_correct} of {skill.onboarding_counted}"
        return Lease("failed", f"Your onboarding score was {shown}; {round(collection.pass_bar * 100)} % is needed "
                               "for this task, so there is no work for you on it.", score=score)
    if skill.status == WorkerSkill.Status.PAUSED and not held:
        return Lease("paused", "Your work on this task is paused. A project manager can resume it.")
    return None


def _lease_state(skill: WorkerSkill, collection: Collection, golds: int, held: list[Assignment]) -> Lease:
    if skill.status == WorkerSkill.Status.ONBOARDING:
        total = min(collection.onboarding, golds)
        progress = {"answered": skill.onboarding_counted, "total": total}
        return Lease("onboarding", f"Onboarding: {skill.onboarding_counted} of {total} answered.", held, progress)
    if held:
        return Lease("work", "", held)
    if collection.status == Collection.Status.FINISHED:
        return Lease("finished", "This batch is finished. Thank you!")
    return Lease("no_work", "No more work for you in this batch right now; new work will appear here.")


def _lease(worker: Any, batch: Batch, item: CollectionItem, now: Any, seconds: int, position: int) -> Assignment:
    """A new lease: one INSERT. ``_pick`` never offers an item the worker was given
    before, and the worker's skill row is locked, so no lease of theirs on it can exist
    or appear meanwhile (the unique constraint would refuse it all the same). The row
    carries its item, worker and batch (template loaded), so answering "next" needs no
    further query."""
    return Assignment.objects.create(batch=batch, item=item.item, assignee=worker, position=position,
                                     expires_at=now + timedelta(seconds=seconds))


def _pick(worker: Any, batch: Batch, collection: Collection, skill: WorkerSkill, given: int,
          now: Any) -> CollectionItem | None:
    if skill.status == WorkerSkill.Status.ONBOARDING:
        return _pick_gold(worker, batch, collection)
    if skill.status != WorkerSkill.Status.ACTIVE:
        return None  # paused while holding a lease: finish it, nothing new (no gold either)
    if collection.n_golds and _gold_turn(collection, worker, given):
        gold = _pick_gold(worker, batch, collection)
        if gold is not None:
            return gold
    if not _budget_left(collection, now):
        return None
    return _pick_work(worker, batch, collection, now)


def _gold_turn(collection: Collection, worker: Any, given: int) -> bool:
    """Seeded per (collection, worker, lease number): reproducible, independent of timing."""
    return random.Random(f"{collection.seed}:{collection.pk}:{worker.pk}:{given}").random() < collection.gold_rate


def _seen_items(worker: Any, batch: Batch) -> QuerySet[Assignment]:
    """Items the worker was ever given in a crowd batch of this concept."""
    return Assignment.objects.filter(assignee=worker, batch__concept_id=batch.concept_id,
                                     batch__kind=BatchKind.CROWD, item_id=OuterRef("item_id"))


def _pick_gold(worker: Any, batch: Batch, collection: Collection) -> CollectionItem | None:
    candidates = (collection.items.filter(is_gold=True).exclude(Exists(_seen_items(worker, batch)))
                  .order_by("position"))
    # Golds are offered in an order of their own per worker, so golds never line up across workers.
    pool = list(candidates.values_list("pk", flat=True)[:64])
    if not pool:
        return None
    chosen = random.Random(f"{collection.seed}:{worker.pk}:gold:{len(pool)}").choice(pool)
    return CollectionItem.objects.select_related("item").get(pk=chosen)


def active_leases(batch_id: int, now: Any) -> QuerySet[Assignment]:
    """Open, unexpired leases of a batch (an index serves this: assignment_leases)."""
    return Assignment.objects.filter(batch_id=batch_id, status=AssignmentStatus.OPEN, expires_at__gt=now)


def _budget_left(collection: Collection, now: Any) -> bool:
    """Work answers spent (the collection's counter) plus active work leases < budget."""
    if collection.budget is None:
        return True
    if _room_in_budget(collection, now) > BUDGET_LOCK_MARGIN:
        return True
    locked = Collection.objects.select_for_update().get(pk=collection.pk)  # serialise the last leases
    return _room_in_budget(locked, now) > 0


def _room_in_budget(collection: Collection, now: Any) -> int:
    gold_items = collection.items.filter(is_gold=True).values("item_id")
    leased = active_leases(collection.batch_id, now).exclude(item_id__in=gold_items).count()
    return int(collection.budget or 0) - collection.spent - leased


def _wanted(collection: Collection) -> Any:
    """SQL: answers an open item still wants at once: ``overlap`` at first, then one at a
    time, never past ``kappa``."""
    first = Greatest(Value(collection.overlap) - F("n_answers"), Value(1))
    return Least(Value(collection.kappa) - F("n_answers"), first)


def _work_queues(worker: Any, batch: Batch, collection: Collection, now: Any) -> list[QuerySet[CollectionItem]]:
    """The open work items this worker may be given, as the policy orders them: two
    queues, each served by an index (fresh items: collection_queue by position; started ones:
    the partial index collection_started, since they are few among many fresh ones)."""
    leases = (Assignment.objects.filter(batch_id=collection.batch_id, item_id=OuterRef("item_id"),
                                        status=AssignmentStatus.OPEN, expires_at__gt=now)
              .order_by().values("item_id").annotate(n=Count("pk")).values("n"))
    base = (collection.items.filter(is_gold=False, status=CollectionItem.Status.OPEN, n_answers__lt=collection.kappa)
            .exclude(Exists(_seen_items(worker, batch))).exclude(item__flagged_broken=True)
            .annotate(leased=Coalesce(Subquery(leases, output_field=IntegerField()), Value(0)))
            .filter(leased__lt=_wanted(collection)).select_related("item"))
    fresh = base.filter(n_answers=0).order_by("position")
    started = base.filter(n_answers__gt=0)
    if collection.policy == Policy.UNCERTAINTY:  # every item once, then the most uncertain
        return [fresh, started.annotate(margin=Abs(F("posterior_yes") - 0.5)).order_by("margin", "n_answers",
                                                                                       "position")]
    return [started.order_by("position"), fresh]  # finish what was started, in queue order


def _pick_work(worker: Any, batch: Batch, collection: Collection, now: Any) -> CollectionItem | None:
    postgres = connection.vendor == "postgresql"
    for queue in _work_queues(worker, batch, collection, now):
        locked = queue.select_for_update(skip_locked=True, of=("self",)) if postgres else queue
        for _ in range(4):
            candidates = list(locked[:CANDIDATES])
            if not candidates:
                break
            for candidate in candidates:
                if _has_room(candidate, collection, now):
                    return candidate
    return None


def _has_room(item: CollectionItem, collection: Collection, now: Any) -> bool:
    """Re-counted under the item's lock, in one fresh statement (it sees every committed
    answer and lease): answers plus active leases below what it wants."""
    leases = (active_leases(collection.batch_id, now).filter(item_id=OuterRef("item_id"))
              .order_by().values("item_id").annotate(n=Count("pk")).values("n"))
    return CollectionItem.objects.filter(
        pk=item.pk, status=CollectionItem.Status.OPEN, n_answers__lt=collection.kappa,
    ).annotate(leased=Coalesce(Subquery(leases, output_field=IntegerField()), Value(0))).filter(
        leased__lt=_wanted(collection)).exists()
