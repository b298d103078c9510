"""GET /api/projects/{id}/dashboard/ and /api/concepts/{id}/expert-vs-crowd/: the figures
of every concept (expert rounds, crowd batches, models by label source), checked against
the rows they come from."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from aggregation.models import CollectionItem
from labeling import services
from labeling.choices import AnswerValue, BatchKind, LabelSource
from labeling.models import Answer, Label
from modeling.models import ModelVersion
from tests.crowd.world import CrowdWorld
from tests.reports.crowd_run import run_batch


def dashboard(api: Any, world: CrowdWorld) -> dict[str, Any]:
    api.force_authenticate(world.max)
    response = api.get(f"/api/projects/{world.project.pk}/dashboard/")
    assert response.status_code == 200, response.json()
    return dict(response.json())


def test_it_lists_each_concepts_expert_rounds_and_crowd_batches(api: Any, crowd: CrowdWorld) -> None:
    rated = services.create_batch(concept=crowd.concept, kind=BatchKind.EXPERT_RATING, selection="expansion",
                                  items=[i.pk for i in crowd.work[:4]], assignee=crowd.ann)
    for assignment in rated.assignments.order_by("position")[:3]:
        services.submit_answer(worker=crowd.ann, assignment=assignment, value=AnswerValue.YES,
                               client_id=uuid.uuid4(), seconds=1.0)
    sent = run_batch(api, crowd)
    [concept] = dashboard(api, crowd)["concepts"]
    assert concept["name"] == "gourmet tuna" and concept["owner"] == "ann"
    [expert_round] = concept["expert_rounds"]
    assert expert_round == {**expert_round, "batch": rated.pk, "items": 4, "rated": 3, "selection": "expansion"}
    [batch] = concept["crowd_batches"]
    work = CollectionItem.objects.filter(collection__batch_id=sent["batch"], is_gold=False)
    done = work.filter(status="done")
    answers = Answer.objects.filter(assignment__batch_id=sent["batch"], retracted_at__isnull=True)
    work_answers = answers.filter(assignment__item_id__in=work.values("item_id"))
    assert batch["batch"] == sent["batch"] and batch["cohort_name"] == "day"
    assert (batch["items"], batch["done"], batch["open"]) == (work.count(), done.count(), work.count() - done.count())
    assert batch["answers"] == answers.count() and batch["work_answers"] == work_answers.count()
    done_answers = answers.filter(assignment__item_id__in=done.values("item_id")).count()
    assert batch["answers_per_done_item"] == pytest.approx(done_answers / done.count(), abs=1e-3)
    assert Decimal(batch["cost"]) == Decimal("0.05") * answers.count()
    confident = work.filter(reason="confident").count()
    assert batch["confident"] == confident
    if confident:  # shown to 4 decimals (rounded half to even), so within 0.0001 of the exact ratio
        assert Decimal(batch["cost_per_confident_label"]) == pytest.approx(
            Decimal("0.05") * answers.count() / confident, abs=Decimal("0.0001"))
    else:  # every item ended at kappa (the leases' order differs by database): no ratio, not a division by 0
        assert batch["cost_per_confident_label"] is None
    assert batch["projected_work_answers"] >= batch["work_answers"]


def version(world: CrowdWorld, number: int, source: str, labels: list[list[Any]]) -> ModelVersion:
    return ModelVersion.objects.create(concept=world.concept, pool=world.pool, number=number, source=source,
                                       label_count=len(labels), training_labels=labels)


def test_it_groups_models_by_label_source_with_the_labels_and_cost_they_took(api: Any, crowd: CrowdWorld,
                                                                           settings: Any) -> None:
    settings.AGILE = {**settings.AGILE, "EXPERT_PRICE_PER_LABEL": "2.50"}
    run_batch(api, crowd)
    expert = [[i.pk, float(crowd.truth[i.pk]), "expert"] for i in crowd.gold]
    crowd_labels = list(Label.objects.filter(concept=crowd.concept, source=LabelSource.AGGREGATED))
    from_crowd = [[label.item_id, label.posterior_yes, "crowd"] for label in crowd_labels]
    version(crowd, 1, "expert", expert)
    version(crowd, 2, "crowd", from_crowd)
    version(crowd, 3, "both", expert + from_crowd)
    api.force_authenticate(crowd.max)
    body = api.get(f"/api/concepts/{crowd.concept.pk}/expert-vs-crowd/").json()
    groups = body["groups"]
    assert [[m["number"] for m in groups[s]] for s in ("expert", "crowd", "both")] == [[1], [2], [3]]
    answers = Answer.objects.filter(assignment__batch__concept=crowd.concept, assignment__batch__kind="crowd",
                                    assignment__item_id__in=[label.item_id for label in crowd_labels]).count()
    crowd_cost = Decimal("0.05") * answers
    assert groups["expert"][0] | {"expert_labels": 8, "crowd_labels": 0, "cost": "20.00"} == groups["expert"][0]
    assert groups["crowd"][0]["crowd_answers"] == answers and Decimal(groups["crowd"][0]["cost"]) == crowd_cost
    assert Decimal(groups["both"][0]["cost"]) == crowd_cost + Decimal("20.00")
    assert groups["both"][0]["labels"] == 8 + len(crowd_labels)
    assert body["missing_sources"] == [] and body["expert_price_per_label"] == "2.50"
    assert "may add items for the expert to rate" in body["note"]
    # No evaluation set yet: no metrics, and none are invented.
    assert body["zero_shot"] is None and all(m["auc_pr"] is None for g in groups.values() for m in g)
    assert dashboard(api, crowd)["concepts"][0]["models"]["groups"] == groups
