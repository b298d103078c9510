"""Figures of a crowd batch, computed here (never in pages): progress, answers, cost."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from aggregation.models import Collection, CollectionItem
from labeling.choices import AssignmentStatus
from labeling.models import Answer, Assignment


def collection_progress(collection: Collection) -> dict[str, Any]:
    """Items done / open, answers spent on work and on golds, leases held, budget and cost."""
    items = collection.items.aggregate(
        work=Count("pk", filter=Q(is_gold=False)), golds=Count("pk", filter=Q(is_gold=True)),
        done=Count("pk", filter=Q(is_gold=False, status=CollectionItem.Status.DONE)),
        confident=Count("pk", filter=Q(is_gold=False, reason="confident")))
    gold_ids = collection.items.filter(is_gold=True).values("item_id")
    answers = Answer.objects.filter(assignment__batch_id=collection.batch_id, retracted_at__isnull=True)
    counts = answers.aggregate(all=Count("pk"), gold=Count("pk", filter=Q(assignment__item_id__in=gold_ids)))
    work_answers = counts["all"] - counts["gold"]
    done_answers = answers.filter(assignment__item_id__in=collection.items.filter(
        is_gold=False, status=CollectionItem.Status.DONE).values("item_id")).count()
    leased = Assignment.objects.filter(batch_id=collection.batch_id, status=AssignmentStatus.OPEN,
                                       expires_at__gt=timezone.now()).count()
    price = Decimal(collection.price)
    per_done = done_answers / items["done"] if items["done"] else None
    projected = work_answers + (per_done or 1.0) * (items["work"] - items["done"])
    if collection.budget is not None:
        projected = min(projected, collection.budget)
    cost = price * counts["all"]
    return {
        "items": items["work"], "done": items["done"], "open": items["work"] - items["done"],
        "confident": items["confident"], "golds": items["golds"],
        "answers": counts["all"], "work_answers": work_answers, "gold_answers": counts["gold"],
        "answers_per_done_item": None if per_done is None else round(per_done, 3),
        "leases_held": leased, "budget": collection.budget,
        "budget_left": None if collection.budget is None else max(collection.budget - work_answers, 0),
        "projected_work_answers": round(projected, 1),
        "cost": str(cost), "projected_cost": str((price * Decimal(projected + counts["gold"])).quantize(Decimal("0.01"))),
        "cost_per_confident_label": str((cost / items["confident"]).quantize(Decimal("0.0001")))
        if items["confident"] else None,
    }
