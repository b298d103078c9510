"""Prepare the dashboard browser test's database: ``python -m tests.browser.seed_dashboard``.

On the crowd seed's world (project "Aircraft", expert ann, workers bob, cat and dan in
cohort "day", manager max, concept "airplane", 16 images rated by ann) it embeds the 80
real CIFAR-10 images with the offline encoder, trains an expert model, lets bob, cat and
dan (simulated, accuracies .95, .85, .75, through the API's services) answer a crowd batch
of 20 unrated images (two of them birds), has ann rate the two birds too, trains a crowd
model and one on both, sends the evaluation sample over the three models to the cohort as a
crowd evaluation batch (source "evaluation", the default initial overlap of 2) which bob,
cat and dan answer, then draws the expert's evaluation set of the same sample and has ann
rate it from the truth: every model is then expert-evaluated with the crowd's estimate
beside it. Everything runs through the jobs and services the pages use. Prints one
JSON line of ids.

The crowd errs as crowds do, not only at random: a worker reads the concept from its name
and takes a bird in the sky for an aircraft (truth "yes" for birds), where the expert says
no. So crowd and expert disagree on the two birds: the concept's borderline cases.
"""

from __future__ import annotations

import json
import os
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from tests.browser.seed_crowd import base_world

CROWD_ITEMS = 20


def run(project: Any, kind: str, params: dict[str, Any], user: Any) -> Any:
    from jobs.execution import run_job
    from jobs.models import Job

    job = Job.objects.create(project=project, kind=kind, params=params, created_by=user)
    run_job(job.pk)
    job.refresh_from_db()
    if job.status != Job.Status.SUCCEEDED:
        raise SystemExit(f"{kind} failed: {job.error}")
    return job


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    world = base_world(Path(os.environ["AGILE_BROWSER_IMAGES"]))
    world.update(models_and_crowd(world))
    print(json.dumps({key: value for key, value in world.items() if not key.startswith("_")}))


def models_and_crowd(world: dict[str, Any]) -> dict[str, Any]:
    from aggregation.collection import CrowdSettings, create_crowd_batch
    from aggregation.headless import ServiceTransport, SimulatedWorker, run_crowd
    from labeling import services
    from labeling.choices import AnswerValue, BatchKind, PoolStatus
    from labeling.models import Cohort, Concept, Item, Pool

    users = world["_users"]
    ann = users["ann"]
    concept = Concept.objects.get(pk=world["concept"])
    pool = Pool.objects.get(pk=world["pool"])
    Pool.objects.filter(pk=pool.pk).update(status=PoolStatus.NEW)
    run(concept.project, "embed_pool", {"pool": pool.pk}, ann)
    base = {"concept": concept.pk, "pool": pool.pk}
    run(concept.project, "train", {**base, "label_source": "expert"}, ann)

    truth = {int(k): v for k, v in world["truth"].items()}
    gold = services.build_assessment_set(concept=concept, user=ann, name="gold", size=8, seed=1)
    keys = dict(Item.objects.filter(pool=pool).values_list("pk", "key"))
    unrated = [i for i in sorted(truth) if i not in world["rated"]]
    birds = [i for i in unrated if keys[i].startswith("bird/")][:2]
    others = [i for i in unrated if i not in birds]
    work = birds + list(np.random.default_rng(0).choice(others, size=CROWD_ITEMS - 2, replace=False).tolist())
    batch = create_crowd_batch(
        concept=concept, items=work, user=ann, cohort=Cohort.objects.get(pk=world["cohort"]), template=None,
        assessment_set=gold, selection="random", params={},
        settings=CrowdSettings(method="gtx", tau=0.95, kappa=3, onboarding=2, pass_bar=0.5, gold_rate=0.2,
                               price=Decimal("0.05")))
    crowd = [SimulatedWorker(name, accuracy, ServiceTransport(users[name]), np.random.default_rng(i))
             for i, (name, accuracy) in enumerate((("bob", 0.95), ("cat", 0.85), ("dan", 0.75)))]
    run_crowd(batch.pk, crowd, lambda item: truth.get(item) or keys.get(item, "").startswith("bird/"))
    rated_birds = services.create_batch(concept=concept, kind=BatchKind.EXPERT_RATING, items=birds, assignee=ann,
                                        selection="manual", round=1)
    for assignment in rated_birds.assignments.order_by("position"):
        services.submit_answer(worker=ann, assignment=assignment, client_id=uuid.uuid4(), seconds=1.0,
                               value=AnswerValue.NO)
    for source in ("crowd", "both"):
        run(concept.project, "train", {**base, "label_source": source}, ann)
    from modeling.crowd import crowd_items, default_overlap

    sample = crowd_items(concept, "evaluation", pool=pool, k=3)
    crowd_evaluation = create_crowd_batch(
        concept=concept, items=sample, user=ann, cohort=Cohort.objects.get(pk=world["cohort"]), template=None,
        assessment_set=gold, selection="evaluation", params={"pool": pool.pk, "k": 3},
        settings=CrowdSettings(method="gtx", tau=0.95, kappa=3, overlap=default_overlap("evaluation", 3),
                               onboarding=2, pass_bar=0.5, gold_rate=0.0, price=Decimal("0.05")))
    run_crowd(crowd_evaluation.pk, crowd, lambda item: truth.get(item) or keys.get(item, "").startswith("bird/"))
    evaluation = run(concept.project, "evaluation_set", {**base, "k": 3}, ann)
    from labeling.models import Batch

    for assignment in Batch.objects.get(pk=evaluation.result["batch"]).assignments.order_by("position"):
        services.submit_answer(worker=ann, assignment=assignment, client_id=uuid.uuid4(), seconds=1.0,
                               value=AnswerValue.YES if truth[assignment.item_id] else AnswerValue.NO)
    return {"crowd_batch": batch.pk, "crowd_evaluation_batch": crowd_evaluation.pk,
            "evaluation_batch": evaluation.result["batch"], "birds": birds}


if __name__ == "__main__":
    main()
