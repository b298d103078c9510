"""The demo's crowd: one crowd batch answered by a headless crowd (so a newcomer sees
labels, worker accuracies and re-queries at once) and one left open for the demo's two
human workers.

The concept's truth is the textile images' folder (``local`` and ``global`` defects are
defective fabric, ``nominal`` is not). The gold items are labelled by the demo's
simulated expert (24 items, half defective) and drawn apart from the expert's own first
batch, which stays for the newcomer to rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from aggregation.collection import CrowdSettings, create_crowd_batch
from aggregation.headless import ServiceTransport, SimulatedWorker, accuracies, enlist, run_crowd
from aggregation.models import Collection, WorkerSkill
from aggregation.progress import collection_progress
from labeling.choices import BatchKind, LabelSource
from labeling.models import Assignment, Batch, Cohort, Concept, Item, Label, Pool, Project
from labeling.services import build_assessment_set

DEFECTS = ("local", "global")
GOLD_EACH = 12
CROWD_ITEMS, OPEN_ITEMS = 120, 30
HEADLESS_WORKERS, ACCURACY = 8, (0.7, 0.95)
SEED = 0


@dataclass(frozen=True)
class DemoCrowd:
    answered: Batch
    open_for_people: Batch
    progress: dict[str, Any]
    re_asked: int
    accuracy: list[tuple[str, float, float]]  # (worker, true accuracy, estimated)


def _is_defect(key: str) -> bool:
    return key.split("/", 1)[0] in DEFECTS


def ensure_demo_crowd(project: Project, expert: Any, concept: Concept, pool: Pool, people_cohort: Cohort,
                      observe: Callable[[int], None] | None = None) -> DemoCrowd:
    """Set the demo's crowd up once; a re-run finds it again."""
    existing = Batch.objects.filter(concept=concept, kind=BatchKind.CROWD).order_by("id")
    if existing.count() >= 2:
        return _summary(existing[0], existing[1])
    rng = np.random.default_rng(SEED)
    rated = set(Assignment.objects.filter(batch__concept=concept).values_list("item_id", flat=True))
    keys = dict(Item.objects.filter(pool=pool).exclude(pk__in=rated).values_list("pk", "key"))
    ids = np.array(sorted(keys))
    rng.shuffle(ids)
    defects = [int(i) for i in ids if _is_defect(keys[int(i)])][:GOLD_EACH]
    nominal = [int(i) for i in ids if not _is_defect(keys[int(i)])][:GOLD_EACH]
    gold_ids = defects + nominal
    Label.objects.bulk_create([Label(item_id=i, concept=concept, value=_is_defect(keys[i]), source=LabelSource.EXPERT,
                                     method="expert") for i in gold_ids], ignore_conflicts=True)
    gold = build_assessment_set(concept=concept, user=expert, name="Demo gold (24, balanced)", items=gold_ids)
    rest = [int(i) for i in ids if int(i) not in set(gold_ids)]
    crowd_cohort, _ = Cohort.objects.get_or_create(project=project, name="Demo headless crowd")
    # tau .99: with accuracies estimated from 10-20 golds each, a single answer of a worker
    # who got every gold right already passes .95 (see docs/crowd.md); .99 asks again.
    settings = CrowdSettings(method="gtx", tau=0.99, kappa=5, onboarding=10, gold_rate=0.1, price=Decimal("0.05"))
    answered = create_crowd_batch(concept=concept, items=rest[:CROWD_ITEMS], user=expert, settings=settings,
                                  cohort=crowd_cohort, assessment_set=gold, selection="random")
    workers = enlist(project, crowd_cohort, HEADLESS_WORKERS, "crowd")
    skill = accuracies(len(workers), *ACCURACY, rng)
    simulated = [SimulatedWorker(u.username, float(a), ServiceTransport(u), np.random.default_rng([SEED, j]))
                 for j, (u, a) in enumerate(zip(workers, skill))]
    run_crowd(answered.pk, simulated, lambda item_id: _is_defect(keys.get(item_id) or _key(item_id)),
              progress=observe)
    open_settings = CrowdSettings(method="gtx", tau=0.95, kappa=3, onboarding=4, gold_rate=0.1, price=Decimal("0.05"))
    open_for_people = create_crowd_batch(concept=concept, items=rest[CROWD_ITEMS:CROWD_ITEMS + OPEN_ITEMS],
                                         user=expert, settings=open_settings, cohort=people_cohort,
                                         assessment_set=gold, selection="random")
    return _summary(answered, open_for_people, {w.name: w.accuracy for w in simulated})


def _key(item_id: int) -> str:
    return Item.objects.filter(pk=item_id).values_list("key", flat=True).first() or ""


def _summary(answered: Batch, open_for_people: Batch, true_accuracy: dict[str, float] | None = None) -> DemoCrowd:
    collection = Collection.objects.get(batch=answered)
    re_asked = collection.items.filter(is_gold=False, n_answers__gt=1).count()
    skills = WorkerSkill.objects.filter(concept=answered.concept, worker__username__startswith="crowd-") \
        .select_related("worker").order_by("worker__username")
    accuracy = [(s.worker.username, (true_accuracy or {}).get(s.worker.username, float("nan")), s.accuracy)
                for s in skills]
    return DemoCrowd(answered, open_for_people, collection_progress(collection), re_asked, accuracy)
