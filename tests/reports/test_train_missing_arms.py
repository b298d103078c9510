"""POST /api/concepts/{id}/train-missing/: one train job per label source with labels at
hand and no model yet, so every arm of expert vs crowd gets its model; the expert's write."""

from __future__ import annotations

from typing import Any

from jobs.models import Job
from modeling.models import ModelVersion
from tests.crowd.world import CrowdWorld
from tests.reports.crowd_run import run_batch


def train_missing(api: Any, world: CrowdWorld, user: Any) -> Any:
    api.force_authenticate(user)
    return api.post(f"/api/concepts/{world.concept.pk}/train-missing/", {"pool": world.pool.pk}, format="json")


def test_it_starts_a_job_for_each_source_without_a_model(api: Any, crowd: CrowdWorld) -> None:
    run_batch(api, crowd)
    ModelVersion.objects.create(concept=crowd.concept, pool=crowd.pool, number=1, source="expert", label_count=8)
    response = train_missing(api, crowd, crowd.ann)
    assert response.status_code == 202, response.json()
    assert response.json()["sources"] == ["crowd", "both"]
    queued = Job.objects.filter(kind="train", status=Job.Status.QUEUED).order_by("id")
    assert [j.params["label_source"] for j in queued] == ["crowd", "both"]
    assert [j["id"] for j in response.json()["jobs"]] == [j.pk for j in queued]


def test_it_says_when_every_arm_is_trained(api: Any, crowd: CrowdWorld) -> None:
    for number, source in enumerate(("expert", "crowd", "both"), start=1):
        ModelVersion.objects.create(concept=crowd.concept, pool=crowd.pool, number=number, source=source)
    response = train_missing(api, crowd, crowd.ann)
    assert response.status_code == 409 and set(response.json()) == {"error", "field"}
    assert not Job.objects.filter(kind="train").exists()


def test_it_trains_only_the_sources_that_have_labels(api: Any, crowd: CrowdWorld) -> None:
    response = train_missing(api, crowd, crowd.ann)  # the expert's 8 labels, no crowd yet
    assert response.status_code == 202 and response.json()["sources"] == ["expert"]


def test_it_is_the_concept_experts_to_start(api: Any, crowd: CrowdWorld) -> None:
    assert train_missing(api, crowd, crowd.max).status_code == 403
    assert train_missing(api, crowd, crowd.workers[0]).status_code == 404
    assert not Job.objects.exists()
