"""Crowd labels into the trainer: a model trained on the crowd's aggregated labels (their
P(yes) as soft targets), or on both sources, through the same train job as the expert's."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from labeling.choices import LabelSource, Role
from labeling.models import Cohort, Item, Label, Membership
from modeling.models import ModelVersion
from tests.people import World, make_user
from tests.studio.conftest import run_queued_jobs
from tests.studio.test_expert_loop_api import make_pool, rated_airplane_concept

pytestmark = pytest.mark.slow


def airplane(world: Any, task: dict[str, Any]) -> str:
    return "yes" if Item.objects.get(pk=task["item"]).key.startswith("airplane/") else "no"


def crowd_answers_everything(api: Any, workers: list[Any], batch: int) -> None:
    for worker in workers:
        api.force_authenticate(worker)
        for _ in range(100):
            lease = api.post("/api/crowd/next/", {"batch": batch, "hold": 1}, format="json").json()
            if not lease["assignments"]:
                break
            task = lease["assignments"][0]
            api.post("/api/answers/", {"assignment": task["id"], "value": airplane(None, task),
                                       "client_id": str(uuid.uuid4())}, format="json")


def test_it_trains_on_crowd_labels_and_on_both(api: Any, world: World, studio_settings: Any,
                                               cifar_folder: Path) -> None:
    api.force_authenticate(world.ann)
    pool = make_pool(api, world, cifar_folder)
    concept = rated_airplane_concept(api, world, pool)
    gold = api.post("/api/assessment-sets/build/", {"concept": concept["id"], "name": "gold", "size": 8},
                    format="json")
    assert gold.status_code == 201, gold.json()
    workers = [world.bob, world.cat, make_user("dan")]
    Membership.objects.create(project=world.fish, user=workers[2], role=Role.WORKER)
    cohort = Cohort.objects.create(project=world.fish, name="night")
    cohort.workers.add(*workers)
    api.force_authenticate(world.ann)
    sent = api.post(f"/api/concepts/{concept['id']}/crowd-batches/", {
        "cohort": cohort.pk, "assessment_set": gold.json()["id"], "source": "random", "pool": pool["id"],
        "size": 12, "onboarding": 2, "kappa": 3}, format="json")
    assert sent.status_code == 201, sent.json()
    crowd_answers_everything(api, workers, sent.json()["batch"])
    crowd_labels = Label.objects.filter(concept_id=concept["id"], source=LabelSource.AGGREGATED)
    assert crowd_labels.count() == 12
    expert_items = set(Label.objects.filter(concept_id=concept["id"], source=LabelSource.EXPERT)
                       .values_list("item_id", flat=True))
    assert not expert_items & set(crowd_labels.values_list("item_id", flat=True))  # new items went out

    api.force_authenticate(world.ann)
    for source in ("crowd", "both"):
        response = api.post(f"/api/concepts/{concept['id']}/train/", {"pool": pool["id"], "label_source": source},
                            format="json")
        assert response.status_code == 202, response.json()
        [job] = run_queued_jobs()
        assert job.status == "succeeded", job.error
    both_model, crowd_model = list(ModelVersion.objects.filter(concept_id=concept["id"]).order_by("-number"))[:2]
    assert crowd_model.source == "crowd" and crowd_model.label_count == 12
    assert {source for _, _, source in crowd_model.training_labels} == {"crowd"}
    targets = {item: target for item, target, _ in crowd_model.training_labels}
    posteriors = dict(crowd_labels.values_list("item_id", "posterior_yes"))
    assert targets == {item: pytest.approx(p, abs=1e-6) for item, p in posteriors.items()}  # soft targets
    assert both_model.source == "both" and both_model.label_count == 12 + len(expert_items)


def test_it_refuses_to_train_on_crowd_labels_that_do_not_exist(api: Any, world: World, studio_settings: Any,
                                                               cifar_folder: Path) -> None:
    api.force_authenticate(world.ann)
    pool = make_pool(api, world, cifar_folder)
    concept = rated_airplane_concept(api, world, pool)
    api.post(f"/api/concepts/{concept['id']}/train/", {"pool": pool["id"], "label_source": "crowd"}, format="json")
    [job] = run_queued_jobs()
    assert job.status == "failed" and "No crowd labels" in job.error
    response = api.post(f"/api/concepts/{concept['id']}/train/", {"pool": pool["id"], "label_source": "mob"},
                        format="json")
    assert response.status_code == 400 and response.json()["field"] == "label_source"
