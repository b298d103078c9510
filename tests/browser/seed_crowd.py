"""Prepare the crowd browser tests' database: ``python -m tests.browser.seed_crowd MODE``
(MODE ``studio`` or ``worker``), in the server's environment, with the pool's images in
``$AGILE_BROWSER_IMAGES`` (the real CIFAR-10 images the browser conftest extracts).

Both modes: project "Aircraft" with an expert (ann), workers bob, cat and dan in cohort
"day", a manager (max); concept "airplane"; a pool of the 80 images; a first round of 16
images rated by ann through the answer service (her expert labels). ``worker`` adds what a
crowd batch needs, through the API the studio uses: an assessment set (a balanced draw of
4 of ann's labels), a task template with a positive, a negative and a test example, and a
crowd batch of two unlabelled images (gtx, tau 0.99 so that one answer never settles an
item, kappa 2, onboarding 2, pass bar 0.5, no hidden golds).

The pool's items are registered without embedding them: the crowd loop reads no
embeddings, and embedding 80 images takes minutes on a busy 2-core machine.
Prints one JSON line: ids, and the truth of every item (for the test's answers).
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.browser.seed import PASSWORD

ROUND_PER_CLASS = 8  # round 0: 8 airplanes and 8 other images, rated by ann


def main(mode: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    world = base_world(Path(os.environ["AGILE_BROWSER_IMAGES"]))
    if mode == "worker":
        world.update(crowd_batch(world))
    print(json.dumps({key: value for key, value in world.items() if not key.startswith("_")}))


def base_world(images: Path) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from labeling import services
    from labeling.choices import AnswerValue, BatchKind, PoolStatus, Role
    from labeling.models import Cohort, Concept, Item, Membership, Pool, Project

    users = {name: get_user_model().objects.create_user(username=name, password=PASSWORD)
             for name in ("ann", "bob", "cat", "dan", "max")}
    project = Project.objects.create(name="Aircraft", created_by=users["max"])
    for name, role in (("ann", Role.EXPERT), ("bob", Role.WORKER), ("cat", Role.WORKER), ("dan", Role.WORKER),
                       ("max", Role.MANAGER)):
        Membership.objects.create(project=project, user=users[name], role=role)
    cohort = Cohort.objects.create(project=project, name="day")
    cohort.workers.add(users["bob"], users["cat"], users["dan"])
    keys = sorted(str(path.relative_to(images)) for path in images.rglob("*.jpg"))
    pool = Pool.objects.create(project=project, name="cifar sample", source=str(images), status=PoolStatus.READY)
    Item.objects.bulk_create([Item(pool=pool, key=key, row=row) for row, key in enumerate(keys)])
    items = list(Item.objects.filter(pool=pool).order_by("row"))
    truth = {item.pk: item.key.startswith("airplane/") for item in items}
    concept = Concept.objects.create(project=project, owner=users["ann"], name="airplane",
                                     description="Any aircraft with fixed wings, in the air or on the ground.",
                                     positive_phrases=["jet airliner"], negative_phrases=["bird"])
    planes = [i.pk for i in items if truth[i.pk]][:ROUND_PER_CLASS]
    others = [i.pk for i in items if not truth[i.pk]][:ROUND_PER_CLASS]
    rated = [pk for pair in zip(planes, others) for pk in pair]
    batch = services.create_batch(concept=concept, kind=BatchKind.EXPERT_RATING, items=rated, assignee=users["ann"],
                                  selection="expansion")
    for assignment in batch.assignments.order_by("position"):
        services.submit_answer(worker=users["ann"], assignment=assignment, client_id=uuid.uuid4(), seconds=1.0,
                               value=AnswerValue.YES if truth[assignment.item_id] else AnswerValue.NO)
    return {"project": project.pk, "concept": concept.pk, "pool": pool.pk, "cohort": cohort.pk, "round": batch.pk,
            "rated": rated, "truth": {str(k): v for k, v in truth.items()}, "_users": users}


def crowd_batch(world: dict[str, Any]) -> dict[str, Any]:
    """Assessment set, template and crowd batch, made through the API as the studio makes them."""
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(world["_users"]["ann"])
    concept = world["concept"]
    gold = call(api, "/api/assessment-sets/build/", {"concept": concept, "name": "gold", "size": 4, "seed": 1})
    golds = {entry["item"] for entry in gold["items"]}
    truth = {int(k): v for k, v in world["truth"].items()}
    rated = [i for i in world["rated"] if i not in golds]
    positive = next(i for i in rated if truth[i])
    negative = next(i for i in rated if not truth[i])
    test = next(i for i in rated if i not in (positive, negative))
    template = call(api, "/api/templates/", {
        "concept": concept, "description": "Answer yes for any fixed-wing aircraft: airliners, jets, propeller planes.",
        "examples": [
            {"item": positive, "is_positive": True, "note": "A plane on the ground counts too."},
            {"item": negative, "is_positive": False, "note": "Not an aircraft."},
            {"item": test, "is_positive": truth[test], "note": "What would you answer here?", "is_test": True}]})
    unrated = [i for i in sorted(truth) if i not in world["rated"]]
    work = [next(i for i in unrated if truth[i]), next(i for i in unrated if not truth[i])]
    collection = call(api, f"/api/concepts/{concept}/crowd-batches/", {
        "cohort": world["cohort"], "template": template["id"], "assessment_set": gold["id"], "source": "items",
        "items": work, "method": "gtx", "tau": 0.99, "kappa": 2, "overlap": 1, "onboarding": 2, "pass_bar": 0.5,
        "gold_rate": 0.0, "budget": 10, "price": "0.05"})
    return {"batch": collection["batch"], "template": template["id"], "gold": sorted(golds), "work": work,
            "examples": {"positive": positive, "negative": negative, "test": test}}


def call(api: Any, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(url, body, format="json")
    if response.status_code != 201:
        raise SystemExit(f"POST {url} -> {response.status_code}: {response.content.decode()[:2000]}")
    return dict(response.json())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "worker")
