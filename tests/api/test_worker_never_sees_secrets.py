"""A crowd worker never sees gold labels, assessment answers, expected answers of test
examples, item keys (they name the class) or other workers' answers — in any response."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.people import World

LIST_ENDPOINTS = ["projects", "memberships", "cohorts", "concepts", "pools", "items", "templates",
                  "assessment-sets", "batches", "assignments", "answers", "labels", "model-versions", "jobs"]


def everything_bob_can_fetch(api: Any, world: World) -> list[Any]:
    api.force_authenticate(world.bob)
    bodies = [api.get(f"/api/{name}/").json() for name in LIST_ENDPOINTS]
    bodies.append(api.get(f"/api/assignments/{world.bob_assignment.pk}/").json())
    bodies.append(api.get("/api/assignments/?mine=1&status=open").json())
    return bodies


def test_it_shows_a_worker_only_their_own_assignments_and_answers(api: Any, world: World) -> None:
    api.force_authenticate(world.bob)
    assignments = api.get("/api/assignments/").json()["results"]
    assert [a["id"] for a in assignments] == [world.bob_assignment.pk]
    assert api.get("/api/answers/").json()["results"] == []


def test_it_leaks_no_secret_in_any_worker_response(api: Any, world: World) -> None:
    text = json.dumps(everything_bob_can_fetch(api, world))
    assert str(world.cat_answer.client_id) not in text           # another worker's answer
    assert '"expected"' not in text                               # assessment answers
    for item in world.items:
        assert item.key not in text                               # keys name the class
    for prefix in ("labels", "assessment-sets", "concepts", "answers", "templates", "items"):
        assert f'"id": {world.label.pk}, "item"' not in text, prefix


def test_it_withholds_the_expected_answer_of_test_examples(api: Any, world: World) -> None:
    api.force_authenticate(world.bob)
    task = api.get(f"/api/assignments/{world.bob_assignment.pk}/").json()["task"]
    assert task["question"] == "Is this gourmet tuna?"
    shown = {e["note"]: e["is_positive"] for e in task["examples"]}
    assert shown == {"Glossy red cut.": True, "Look closely.": None}
    assert [a["value"] for a in task["answers"]] == ["yes", "no", "dont_know", "broken"]


def test_it_serves_a_worker_the_images_of_their_task_only(api: Any, world: World) -> None:
    api.force_authenticate(world.bob)
    assert api.get(f"/api/items/{world.bob_assignment.item_id}/image/").status_code == 200
    assert api.get(f"/api/items/{world.test_example.item_id}/image/").status_code == 200  # an example
    assert api.get(f"/api/items/{world.cat_assignment.item_id}/image/").status_code == 404
    assert api.get(f"/api/items/{world.items[4].pk}/image/").status_code == 404


def test_it_shows_an_expert_the_expected_answers(api: Any, world: World) -> None:
    api.force_authenticate(world.ann)
    template = api.get(f"/api/templates/{world.template.pk}/").json()
    assert {e["note"]: e["is_positive"] for e in template["examples"]}["Look closely."] is False
    gold = api.get(f"/api/assessment-sets/{world.assessment.pk}/").json()["items"]
    assert sorted(g["expected"] for g in gold) == [False, True]


def test_it_serves_a_cached_jpeg_thumbnail(api: Any, world: World, settings: Any, tmp_path: Any) -> None:
    settings.VAR_DIR = tmp_path / "var"
    api.force_authenticate(world.ann)
    first = api.get(f"/api/items/{world.items[0].pk}/image/?size=128")
    assert first.status_code == 200 and first["Content-Type"] == "image/jpeg"
    cached = list((tmp_path / "var" / "thumbs").rglob("*.jpg"))
    assert len(cached) == 1
    again = api.get(f"/api/items/{world.items[0].pk}/image/?size=128")
    assert b"".join(again.streaming_content) == b"".join(first.streaming_content)


def test_it_answers_404_for_an_image_missing_from_the_source(api: Any, world: World) -> None:
    Path(world.pool.source, world.items[2].key).unlink()
    api.force_authenticate(world.ann)
    assert api.get(f"/api/items/{world.items[2].pk}/image/").status_code == 404
