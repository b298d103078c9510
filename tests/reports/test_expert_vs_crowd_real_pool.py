"""Expert vs crowd on a small real pool with the real offline encoder: an expert model, a
crowd model and a model on both, on the concept's one expert evaluation set; each gets
its metrics with intervals, ``ModelVersion.metrics`` is filled, and the model card says
where its training labels came from and how it scored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labeling.choices import Role
from labeling.models import Cohort, Concept, Membership, Pool
from modeling.models import ModelVersion
from tests.crowd.test_crowd_training import crowd_answers_everything
from tests.people import World, make_user
from tests.studio.conftest import run_queued_jobs
from tests.studio.test_expert_loop_api import make_pool, rate_batch, rated_airplane_concept

pytestmark = pytest.mark.slow


def train(api: Any, concept: dict[str, Any], pool: dict[str, Any], source: str) -> None:
    response = api.post(f"/api/concepts/{concept['id']}/train/", {"pool": pool["id"], "label_source": source},
                        format="json")
    assert response.status_code == 202, response.json()
    [job] = run_queued_jobs()
    assert job.status == "succeeded", job.error


def crowd_labelled_concept(api: Any, world: World, cifar_folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pool, concept "airplane" with 40 expert ratings, and 12 more items labelled by a crowd of three."""
    api.force_authenticate(world.ann)
    pool = make_pool(api, world, cifar_folder)
    concept = rated_airplane_concept(api, world, pool)
    gold = api.post("/api/assessment-sets/build/", {"concept": concept["id"], "name": "gold", "size": 8},
                    format="json").json()
    workers = [world.bob, world.cat, make_user("dan")]
    Membership.objects.create(project=world.fish, user=workers[2], role=Role.WORKER)
    cohort = Cohort.objects.create(project=world.fish, name="night")
    cohort.workers.add(*workers)
    api.force_authenticate(world.ann)
    sent = api.post(f"/api/concepts/{concept['id']}/crowd-batches/", {
        "cohort": cohort.pk, "assessment_set": gold["id"], "source": "random", "pool": pool["id"], "size": 12,
        "onboarding": 2, "kappa": 3, "price": "0.10"}, format="json")
    assert sent.status_code == 201, sent.json()
    crowd_answers_everything(api, workers, sent.json()["batch"])
    return pool, concept


def test_it_compares_expert_and_crowd_models_on_one_evaluation_set(api: Any, world: World, studio_settings: Any,
                                                                   cifar_folder: Path) -> None:
    pool, concept = crowd_labelled_concept(api, world, cifar_folder)
    api.force_authenticate(world.ann)
    for source in ("expert", "crowd", "both"):
        train(api, concept, pool, source)
    api.post(f"/api/concepts/{concept['id']}/evaluation-set/", {"pool": pool["id"], "k": 3}, format="json")
    [evaluation] = run_queued_jobs()
    rate_batch(api, evaluation.result["batch"])

    api.force_authenticate(world.max)
    body = api.get(f"/api/concepts/{concept['id']}/expert-vs-crowd/").json()
    assert body["evaluation"]["rated"] == body["evaluation"]["size"] > 0
    assert 0 <= body["zero_shot"]["auc_pr"] <= 1
    for source in ("expert", "crowd", "both"):
        [row] = body["groups"][source]
        assert row["auc_pr_low"] <= row["auc_pr"] <= row["auc_pr_high"], (source, row)
        stored = ModelVersion.objects.get(pk=row["id"])
        assert stored.metrics["auc_pr"] == row["auc_pr"] and stored.metrics["auc_pr_low"] == row["auc_pr_low"]
        assert stored.metrics["zero_shot"]["auc_pr"] == body["zero_shot"]["auc_pr"]
        assert stored.metrics["evaluation"]["rated"] == body["evaluation"]["rated"]
    assert float(body["groups"]["crowd"][0]["cost"]) > 0 and body["groups"]["crowd"][0]["crowd_labels"] == 12

    crowd_model = body["groups"]["crowd"][0]["id"]
    card = api.get(f"/api/model-versions/{crowd_model}/card/")
    assert card.status_code == 200 and "attachment" in card["Content-Disposition"]
    card_body = json.loads(card.content)
    assert card_body["source"] == "crowd" and card_body["labels_by_source"] == {"crowd": 12}
    assert card_body["metrics"]["auc_pr"] == body["groups"]["crowd"][0]["auc_pr"]


def test_it_gives_the_demo_expert_and_crowd_models_on_one_rated_evaluation_set(
        api: Any, world: World, studio_settings: Any, cifar_folder: Path) -> None:
    from modeling.demo import ensure_demo_models

    pool, concept = crowd_labelled_concept(api, world, cifar_folder)
    args = (world.fish, world.ann, Concept.objects.get(pk=concept["id"]), Pool.objects.get(pk=pool["id"]),
            lambda key: key.startswith("airplane/"))
    versions = ensure_demo_models(*args, k=3)
    assert [v.source for v in versions] == ["expert", "crowd", "both"]
    assert [v.pk for v in ensure_demo_models(*args, k=3)] == [v.pk for v in versions]  # made once
    api.force_authenticate(world.max)
    body = api.get(f"/api/concepts/{concept['id']}/expert-vs-crowd/").json()
    assert body["evaluation"]["rated"] == body["evaluation"]["size"] > 0
    assert all(body["groups"][source][0]["auc_pr"] is not None for source in ("expert", "crowd", "both"))
