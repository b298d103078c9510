"""Submitting an answer: once per client id, never lost, never silently overwritten."""

from __future__ import annotations

import uuid
from typing import Any

from labeling.choices import AssignmentStatus
from labeling.models import Answer, Label
from tests.people import World


def submit(api: Any, world: World, *, value: str = "yes", client_id: str | None = None,
           assignment: Any = None) -> Any:
    payload = {"assignment": (assignment or world.bob_assignment).pk, "value": value,
               "client_id": client_id or str(uuid.uuid4()), "seconds": 1.5}
    return api.post("/api/answers/", payload, format="json")


def test_it_stores_one_answer_for_a_replayed_client_id(api: Any, world: World) -> None:
    api.force_authenticate(world.bob)
    client_id = str(uuid.uuid4())
    first = submit(api, world, client_id=client_id)
    second = submit(api, world, client_id=client_id)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Answer.objects.filter(worker=world.bob).count() == 1


def test_it_closes_the_assignment(api: Any, world: World) -> None:
    api.force_authenticate(world.bob)
    submit(api, world)
    world.bob_assignment.refresh_from_db()
    assert world.bob_assignment.status == AssignmentStatus.ANSWERED


def test_it_refuses_a_second_different_answer_with_409(api: Any, world: World) -> None:
    api.force_authenticate(world.bob)
    assert submit(api, world, value="yes").status_code == 201
    response = submit(api, world, value="no")
    assert response.status_code == 409
    assert response.json() == {"error": "This assignment already has an answer.", "field": None}
    assert list(Answer.objects.filter(worker=world.bob).values_list("value", flat=True)) == ["yes"]


def test_it_refuses_a_client_id_reused_for_other_content(api: Any, world: World) -> None:
    api.force_authenticate(world.bob)
    client_id = str(uuid.uuid4())
    assert submit(api, world, value="yes", client_id=client_id).status_code == 201
    response = submit(api, world, value="no", client_id=client_id)
    assert response.status_code == 409
    assert "client_id" in response.json()["error"]
    assert Answer.objects.get(worker=world.bob).value == "yes"


def test_it_hides_someone_elses_assignment(api: Any, world: World) -> None:
    api.force_authenticate(world.bob)
    response = submit(api, world, assignment=world.cat_assignment)
    # Exactly what a missing id gets: the assignment does not exist for bob.
    missing = submit(api, world, assignment=type(world.cat_assignment)(pk=10**9))
    assert response.status_code == missing.status_code == 400
    assert response.json()["field"] == missing.json()["field"] == "assignment"
    assert Answer.objects.filter(worker=world.bob).count() == 0


def test_it_refuses_answers_to_a_closed_batch(api: Any, world: World) -> None:
    world.crowd_batch.status = "closed"
    world.crowd_batch.save()
    api.force_authenticate(world.bob)
    assert submit(api, world).status_code == 409
    assert not Answer.objects.filter(worker=world.bob).exists()


def test_it_keeps_a_retracted_answer_and_reopens_the_assignment(api: Any, world: World) -> None:
    api.force_authenticate(world.ann)
    first = submit(api, world, assignment=world.ann_assignment, value="yes").json()
    assert Label.objects.get(item=world.ann_assignment.item, concept=world.concept).value is True
    undo = api.post(f"/api/answers/{first['id']}/retract/")
    assert undo.status_code == 200 and undo.json()["retracted_at"]
    assert not Label.objects.filter(item=world.ann_assignment.item, concept=world.concept).exists()
    second = submit(api, world, assignment=world.ann_assignment, value="no")
    assert second.status_code == 201
    values = list(Answer.objects.filter(worker=world.ann).order_by("id").values_list("value", "retracted_at"))
    assert [v for v, _ in values] == ["yes", "no"] and values[0][1] is not None and values[1][1] is None
    assert Label.objects.get(item=world.ann_assignment.item, concept=world.concept).value is False


def test_it_lets_only_the_author_retract(api: Any, world: World) -> None:
    api.force_authenticate(world.max)  # a manager reads the answer but cannot undo it
    response = api.post(f"/api/answers/{world.cat_answer.pk}/retract/")
    assert response.status_code == 409
    world.cat_answer.refresh_from_db()
    assert world.cat_answer.retracted_at is None


def test_it_flags_an_item_after_enough_broken_reports(api: Any, world: World, settings: Any) -> None:
    settings.AGILE = {"BROKEN_REPORTS_TO_FLAG": 1}
    api.force_authenticate(world.bob)
    assert submit(api, world, value="broken").status_code == 201
    world.bob_assignment.item.refresh_from_db()
    assert world.bob_assignment.item.flagged_broken
