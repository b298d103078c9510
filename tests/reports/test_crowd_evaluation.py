"""A crowd-labelled evaluation set, through the API on a small real pool: the evaluation
sample sent to a cohort as a crowd batch and answered by the headless crowd gives metrics
marked crowd-evaluated; the expert rating the same sample gives expert-evaluated metrics,
shown beside the crowd's with their difference; crowd evaluation labels never train."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aggregation.headless import ServiceTransport, SimulatedWorker, run_crowd, truth_from_folders
from aggregation.models import CollectionItem
from labeling.choices import Role
from labeling.models import Assignment, Cohort, Concept, Membership, Pool
from modeling import studio
from modeling.models import ModelVersion
from tests.people import World, make_user
from tests.reports.test_expert_vs_crowd_real_pool import train
from tests.studio.conftest import run_queued_jobs
from tests.studio.test_expert_loop_api import make_pool, rate_batch, rated_airplane_concept

pytestmark = pytest.mark.slow


def crowd_evaluation_batch(api: Any, world: World, concept: dict[str, Any], pool: dict[str, Any]) -> int:
    gold = api.post("/api/assessment-sets/build/", {"concept": concept["id"], "name": "gold", "size": 8},
                    format="json").json()
    workers = [world.bob, world.cat, make_user("dan")]
    Membership.objects.create(project=world.fish, user=workers[2], role=Role.WORKER)
    cohort = Cohort.objects.create(project=world.fish, name="evaluators")
    cohort.workers.add(*workers)
    api.force_authenticate(world.ann)
    sent = api.post(f"/api/concepts/{concept['id']}/crowd-batches/", {
        "cohort": cohort.pk, "assessment_set": gold["id"], "source": "evaluation", "pool": pool["id"], "k": 3,
        "onboarding": 2, "kappa": 3, "pause_bar": 0.0}, format="json")
    assert sent.status_code == 201, sent.json()
    assert sent.json()["overlap"] == 2  # an evaluation sample's default initial overlap (training batches: 1)
    batch = int(sent.json()["batch"])
    crowd = [SimulatedWorker(w.username, 0.9, ServiceTransport(w), np.random.default_rng(i))
             for i, w in enumerate(workers)]
    run = run_crowd(batch, crowd, truth_from_folders(["airplane"]))
    assert run.answers > 0
    return batch


def model_row(api: Any, world: World, concept: dict[str, Any]) -> dict[str, Any]:
    api.force_authenticate(world.max)
    body = api.get(f"/api/concepts/{concept['id']}/expert-vs-crowd/").json()
    [row] = body["groups"]["expert"]
    return {**row, "_evaluation": body["evaluation"]}


def test_it_evaluates_on_the_crowds_posteriors_then_beside_the_expert(api: Any, world: World, studio_settings: Any,
                                                                      cifar_folder: Path) -> None:
    api.force_authenticate(world.ann)
    pool = make_pool(api, world, cifar_folder)
    concept = rated_airplane_concept(api, world, pool)
    train(api, concept, pool, "expert")
    batch = crowd_evaluation_batch(api, world, concept, pool)

    row = model_row(api, world, concept)
    crowd = row["_evaluation"]["crowd"]
    assert crowd["batch"] == batch and crowd["labelled"] == crowd["size"] > 0
    assert row["_evaluation"]["size"] == 0  # the expert has rated nothing of it
    assert row["evaluated_on"] == "crowd-posterior"
    assert set(row["evaluations"]) == {"crowd-hard", "crowd-posterior"}
    assert row["auc_pr"] == row["evaluations"]["crowd-posterior"]["auc_pr"]
    assert row["auc_pr_low"] <= row["auc_pr"] <= row["auc_pr_high"]
    assert "crowd_bias" not in row
    assert ModelVersion.objects.get(pk=row["id"]).metrics["evaluated_on"] == "crowd-posterior"

    # Evaluation items never train: the crowd's labels here are all evaluation labels.
    api.force_authenticate(world.ann)
    response = api.post(f"/api/concepts/{concept['id']}/train/", {"pool": pool["id"], "label_source": "crowd"},
                        format="json")
    assert response.status_code == 202
    [job] = run_queued_jobs()
    assert job.status == "failed" and "No crowd labels" in job.error
    crowd_items = set(CollectionItem.objects.filter(collection__batch_id=batch, is_gold=False)
                      .values_list("item_id", flat=True))
    concept_row, pool_row = Concept.objects.get(pk=concept["id"]), Pool.objects.get(pk=pool["id"])
    held_out = studio.items_for_rows(pool_row, studio.asked_rows(concept_row, pool_row))
    assert crowd_items <= set(held_out)  # expansion and AL rounds never pick them for the expert

    # The expert rates the same sample: expert-evaluated metrics, the crowd's beside them.
    api.post(f"/api/concepts/{concept['id']}/evaluation-set/", {"pool": pool["id"], "k": 3}, format="json")
    [evaluation] = run_queued_jobs()
    expert_items = set(Assignment.objects.filter(batch_id=evaluation.result["batch"]).values_list("item_id", flat=True))
    assert expert_items == crowd_items  # one sample, two raters
    rate_batch(api, evaluation.result["batch"])

    row = model_row(api, world, concept)
    assert row["evaluated_on"] == "expert"
    assert set(row["evaluations"]) == {"expert", "crowd-hard", "crowd-posterior"}
    assert row["auc_pr"] == row["evaluations"]["expert"]["auc_pr"]
    for metric in ("auc_pr", "f1"):
        expected = round(row["evaluations"]["crowd-posterior"][metric] - row["evaluations"]["expert"][metric], 4)
        assert row["crowd_bias"][metric] == pytest.approx(expected, abs=1e-4)
    api.force_authenticate(world.ann)
    studio_view = api.get(f"/api/concepts/{concept['id']}/metrics/?pool={pool['id']}").json()
    assert studio_view["models"][0]["evaluated_on"] == "expert"
