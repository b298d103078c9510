"""The demo's crowd: a batch answered by the headless crowd and one open for people."""

from __future__ import annotations

from typing import Any

from aggregation import demo
from aggregation.models import Collection
from labeling.choices import BatchKind, LabelSource
from labeling.demo import ensure_demo_world
from labeling.models import Batch, Cohort, Concept, Item, Label, Pool
from labeling.services import create_batch


def test_it_labels_a_batch_through_the_headless_crowd_and_leaves_one_open(db: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(demo, "CROWD_ITEMS", 40)
    world = ensure_demo_world()
    expert = world.project.memberships.get(role="expert").user
    pool = Pool.objects.create(project=world.project, name="textiles", status="ready")
    kinds = ["nominal", "nominal", "local", "global"]
    items = Item.objects.bulk_create([Item(pool=pool, key=f"{kinds[i % 4]}/{i:04d}.png", row=i) for i in range(200)])
    concept = Concept.objects.create(project=world.project, owner=expert, name="defective fabric")
    create_batch(concept=concept, kind=BatchKind.EXPERT_RATING, items=[i.pk for i in items[:20]], assignee=expert)
    people = Cohort.objects.get(project=world.project, name="Demo cohort")

    crowd = demo.ensure_demo_crowd(world.project, expert, concept, pool, people)
    assert crowd.progress["items"] == 40 and crowd.progress["done"] >= 38
    labels = Label.objects.filter(concept=concept, source=LabelSource.AGGREGATED)
    right = sum(label.value == label.item.key.startswith(("local", "global")) for label in labels)
    assert right >= 0.9 * labels.count()
    assert crowd.re_asked > 0 and len(crowd.accuracy) == demo.HEADLESS_WORKERS
    assert not labels.filter(item__in=items[:20]).exists()  # the expert's batch is left to the newcomer
    open_batch = Collection.objects.get(batch=crowd.open_for_people)
    assert open_batch.status == "open" and crowd.open_for_people.cohort == people

    again = demo.ensure_demo_crowd(world.project, expert, concept, pool, people)  # a re-run finds it again
    assert again.answered == crowd.answered and Batch.objects.filter(kind=BatchKind.CROWD).count() == 2
