"""Bad input gets a 4xx naming the field, in one shape, and writes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from labeling.models import Answer, AssessmentSet, Concept, TaskTemplate
from tests.people import World

ANSWER = "/api/answers/"


def answer_payload(world: World, **changes: Any) -> dict[str, Any]:
    payload = {"assignment": world.bob_assignment.pk, "value": "yes", "client_id": str(uuid.uuid4()), "seconds": 2}
    payload.update(changes)
    return payload


@pytest.mark.parametrize(("changes", "field"), [
    ({"value": "maybe"}, "value"),
    ({"value": None}, "value"),
    ({"client_id": "not-a-uuid"}, "client_id"),
    ({"seconds": -1}, "seconds"),
    ({"seconds": "fast"}, "seconds"),
    ({"assignment": 10**12}, "assignment"),
    ({"assignment": "x"}, "assignment"),
])
def test_it_names_the_bad_answer_field(api: Any, world: World, changes: dict[str, Any], field: str) -> None:
    api.force_authenticate(world.bob)
    response = api.post(ANSWER, answer_payload(world, **changes), format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert set(response.json()) == {"error", "field"}
    assert not Answer.objects.filter(worker=world.bob).exists()


@pytest.mark.parametrize("missing", ["assignment", "value", "client_id"])
def test_it_names_a_missing_field(api: Any, world: World, missing: str) -> None:
    api.force_authenticate(world.bob)
    payload = answer_payload(world)
    del payload[missing]
    response = api.post(ANSWER, payload, format="json")
    assert response.status_code == 400
    assert response.json() == {"error": "This field is required.", "field": missing}


def test_it_answers_malformed_json_with_400(api: Any, world: World) -> None:
    api.force_authenticate(world.bob)
    response = api.post(ANSWER, data='{"value": "yes",', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("JSON parse error")


def test_it_answers_a_non_object_body_with_400(api: Any, world: World) -> None:
    api.force_authenticate(world.ann)
    response = api.post("/api/concepts/", data="[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()) == {"error", "field"}


@pytest.mark.parametrize(("payload", "field"), [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": "ok", "positive_phrases": "tuna"}, "positive_phrases"),
    ({"name": "ok", "positive_phrases": [1, 2]}, "positive_phrases"),
    ({"name": "ok", "positive_phrases": ["p" * 201]}, "positive_phrases"),
    ({"name": "ok", "positive_phrases": ["red tuna"], "negative_phrases": ["Red Tuna"]}, "negative_phrases"),
    ({"name": "gourmet tuna"}, None),  # the name is taken in this project
])
def test_it_validates_concepts(api: Any, world: World, payload: dict[str, Any], field: str | None) -> None:
    api.force_authenticate(world.ann)
    response = api.post("/api/concepts/", {"project": world.fish.pk, **payload}, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["field"] == field
    assert Concept.objects.filter(project=world.fish).count() == 1


def test_it_writes_no_template_when_one_example_is_bad(api: Any, world: World) -> None:
    foreign_item = world.items[0].__class__.objects.create(
        pool=world.pool.__class__.objects.create(project=world.birds, name="herons"), key="x.png")
    api.force_authenticate(world.ann)
    payload = {"concept": world.concept.pk, "question": "Tuna?", "examples": [
        {"item": world.items[0].pk, "is_positive": True, "note": "good"},
        {"item": foreign_item.pk, "is_positive": False, "note": "from another project"},
    ]}
    response = api.post("/api/templates/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["field"].startswith("examples")
    assert TaskTemplate.objects.filter(concept=world.concept).count() == 1


def test_it_refuses_an_assessment_set_listing_an_item_twice(api: Any, world: World) -> None:
    api.force_authenticate(world.ann)
    items = [{"item": world.items[0].pk, "expected": True}, {"item": world.items[0].pk, "expected": False}]
    response = api.post("/api/assessment-sets/", {"concept": world.concept.pk, "name": "x", "items": items},
                        format="json")
    assert response.status_code == 400 and response.json()["field"] == "items"
    assert AssessmentSet.objects.filter(concept=world.concept).count() == 1


def test_it_refuses_a_batch_template_of_another_concept(api: Any, world: World) -> None:
    other = Concept.objects.create(project=world.fish, owner=world.ann, name="salmon")
    api.force_authenticate(world.ann)
    response = api.post("/api/batches/", {"concept": other.pk, "kind": "crowd", "template": world.template.pk},
                        format="json")
    assert response.status_code == 400 and response.json()["field"] == "template"


def test_it_refuses_an_assignee_outside_the_project(api: Any, world: World) -> None:
    api.force_authenticate(world.ann)
    response = api.post("/api/assignments/", {"batch": world.crowd_batch.pk, "item": world.items[0].pk,
                                              "assignee": "oli"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "assignee"


@pytest.mark.parametrize("confidence", [-0.1, 1.5, "high"])
def test_it_keeps_label_confidence_within_0_and_1(api: Any, world: World, confidence: Any) -> None:
    api.force_authenticate(world.ann)
    response = api.post("/api/labels/", {"item": world.items[2].pk, "concept": world.concept.pk, "value": True,
                                         "confidence": confidence}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "confidence"


def test_it_refuses_a_non_numeric_filter(api: Any, world: World) -> None:
    api.force_authenticate(world.ann)
    response = api.get("/api/concepts/?project=abc")
    assert response.status_code == 400 and response.json()["field"] == "project"


def test_it_refuses_cohort_members_who_are_not_workers(api: Any, world: World) -> None:
    api.force_authenticate(world.max)
    response = api.post("/api/cohorts/", {"project": world.fish.pk, "name": "C", "workers": ["ann"]}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "workers"
