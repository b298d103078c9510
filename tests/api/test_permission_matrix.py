"""Every role x every endpoint x read/write, against one table of expected status codes.

Roles: ann (expert, owns the concept), eve (expert, does not), bob (worker), max
(manager), oli (outsider: manages another project), anon (not logged in).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.people import World

ROLES = ("ann", "eve", "bob", "max", "oli", "anon")
Url = Callable[[World], str]
Payload = Callable[[World], dict[str, Any]]


def detail(prefix: str, attr: str) -> Url:
    return lambda w: f"/api/{prefix}/{getattr(w, attr).pk}/"


def first_item(w: World) -> str:
    return f"/api/items/{w.items[0].pk}/"


# resource: (list prefix, detail url, create payload or None, patch payload or None)
RESOURCES: dict[str, tuple[str, Url, Payload | None, Payload | None]] = {
    "projects": ("projects", detail("projects", "fish"), lambda w: {"name": "New"}, lambda w: {"description": "x"}),
    "memberships": ("memberships", lambda w: f"/api/memberships/{w.fish.memberships.get(user=w.bob).pk}/",
                    lambda w: {"project": w.fish.pk, "username": "oli", "role": "worker"},
                    lambda w: {"role": "expert"}),
    "cohorts": ("cohorts", detail("cohorts", "cohort_a"), lambda w: {"project": w.fish.pk, "name": "C"},
                lambda w: {"description": "night shift"}),
    "concepts": ("concepts", detail("concepts", "concept"), lambda w: {"project": w.fish.pk, "name": "bluefin"},
                 lambda w: {"description": "top grade"}),
    "pools": ("pools", detail("pools", "pool"), lambda w: {"project": w.fish.pk, "name": "p2", "source": w.pool.source},
              lambda w: {"encoder": "offline"}),
    "items": ("items", first_item, lambda w: {"pool": w.pool.pk, "key": "new.png"}, lambda w: {"row": 9}),
    "templates": ("templates", detail("templates", "template"),
                  lambda w: {"concept": w.concept.pk, "question": "Q?"}, lambda w: {"question": "Tuna?"}),
    "assessment-sets": ("assessment-sets", detail("assessment-sets", "assessment"),
                        lambda w: {"concept": w.concept.pk, "name": "more gold"}, lambda w: {"name": "gold 2"}),
    "batches": ("batches", detail("batches", "crowd_batch"), lambda w: {"concept": w.concept.pk, "kind": "crowd"},
                lambda w: {"status": "closed"}),
    "assignments": ("assignments", detail("assignments", "bob_assignment"),
                    lambda w: {"batch": w.crowd_batch.pk, "item": w.items[0].pk, "assignee": "cat"},
                    lambda w: {"position": 3}),
    "answers": ("answers", detail("answers", "cat_answer"),
                lambda w: {"assignment": w.bob_assignment.pk, "value": "yes",
                           "client_id": "6f1c2b9e-6f4e-4a8e-9f5d-1b2c3d4e5f60"},
                lambda w: {"value": "yes"}),
    "labels": ("labels", detail("labels", "label"),
               lambda w: {"item": w.items[2].pk, "concept": w.concept.pk, "value": True},
               lambda w: {"value": False}),
    "model-versions": ("model-versions", detail("model-versions", "model_version"), None, None),
    "jobs": ("jobs", detail("jobs", "job"), None, None),
    "collections": ("collections", detail("collections", "collection"), lambda w: {"batch": w.crowd_batch.pk},
                    lambda w: {"tau": 0.9}),
    "worker-skills": ("worker-skills", detail("worker-skills", "skill"), None, None),
    "decisions": ("decisions", detail("decisions", "decision"), None, None),
}

#                    ann  eve  bob  max  oli  anon
EXPECTED: dict[tuple[str, str], tuple[int, ...]] = {
    ("projects", "read"): (200, 200, 200, 200, 404, 401),
    ("projects", "create"): (201, 201, 201, 201, 201, 401),
    ("projects", "update"): (403, 403, 403, 200, 404, 401),
    ("projects", "delete"): (403, 403, 403, 204, 404, 401),
    ("memberships", "read"): (200, 200, 404, 200, 404, 401),
    ("memberships", "create"): (403, 403, 403, 201, 403, 401),
    ("memberships", "update"): (403, 403, 404, 200, 404, 401),
    ("memberships", "delete"): (403, 403, 404, 204, 404, 401),
    ("cohorts", "read"): (200, 200, 404, 200, 404, 401),
    ("cohorts", "create"): (403, 403, 403, 201, 403, 401),
    ("cohorts", "update"): (403, 403, 404, 200, 404, 401),
    ("cohorts", "delete"): (403, 403, 404, 409, 404, 401),  # a batch still uses the cohort
    ("concepts", "read"): (200, 200, 404, 200, 404, 401),
    ("concepts", "create"): (201, 201, 403, 403, 403, 401),
    ("concepts", "update"): (200, 403, 404, 403, 404, 401),
    ("concepts", "delete"): (204, 403, 404, 403, 404, 401),
    ("pools", "read"): (200, 200, 404, 200, 404, 401),
    ("pools", "create"): (201, 201, 403, 201, 403, 401),
    ("pools", "update"): (200, 200, 404, 200, 404, 401),
    ("pools", "delete"): (204, 204, 404, 204, 404, 401),
    ("items", "read"): (200, 200, 404, 200, 404, 401),
    ("items", "create"): (201, 201, 403, 201, 403, 401),
    ("items", "update"): (200, 200, 404, 200, 404, 401),
    ("items", "delete"): (204, 204, 404, 204, 404, 401),
    ("templates", "read"): (200, 200, 404, 200, 404, 401),
    ("templates", "create"): (201, 403, 403, 403, 403, 401),
    ("templates", "update"): (200, 403, 404, 403, 404, 401),
    ("templates", "delete"): (409, 403, 404, 403, 404, 401),  # a crowd batch still uses it
    ("assessment-sets", "read"): (200, 200, 404, 200, 404, 401),
    ("assessment-sets", "create"): (201, 403, 403, 403, 403, 401),
    ("assessment-sets", "update"): (200, 403, 404, 403, 404, 401),
    ("assessment-sets", "delete"): (204, 403, 404, 403, 404, 401),
    ("batches", "read"): (200, 200, 404, 200, 404, 401),
    ("batches", "create"): (201, 403, 403, 403, 403, 401),
    ("batches", "update"): (200, 403, 404, 403, 404, 401),
    ("batches", "delete"): (204, 403, 404, 403, 404, 401),
    ("assignments", "read"): (200, 200, 200, 200, 404, 401),  # bob's own assignment
    ("assignments", "create"): (201, 403, 403, 403, 403, 401),
    ("assignments", "update"): (200, 403, 403, 403, 404, 401),
    ("assignments", "delete"): (204, 403, 403, 403, 404, 401),
    ("answers", "read"): (200, 200, 404, 200, 404, 401),  # cat's answer
    ("answers", "create"): (404, 404, 201, 404, 404, 401),  # only the assignee answers
    ("answers", "update"): (405, 405, 405, 405, 405, 401),  # answers are never edited
    ("answers", "delete"): (405, 405, 405, 405, 405, 401),
    ("labels", "read"): (200, 200, 404, 200, 404, 401),
    ("labels", "create"): (201, 403, 403, 403, 403, 401),
    ("labels", "update"): (200, 403, 404, 403, 404, 401),
    ("labels", "delete"): (204, 403, 404, 403, 404, 401),
    ("model-versions", "read"): (200, 200, 404, 200, 404, 401),
    ("model-versions", "create"): (405, 405, 405, 405, 405, 401),
    ("jobs", "read"): (200, 200, 404, 200, 404, 401),
    ("jobs", "create"): (405, 405, 405, 405, 405, 401),
    # The crowd side: a crowd batch's settings are changed by its concept's owner or a manager.
    ("collections", "read"): (200, 200, 404, 200, 404, 401),
    ("collections", "create"): (405, 405, 405, 405, 405, 401),  # made by POST /concepts/{id}/crowd-batches/
    ("collections", "update"): (200, 403, 404, 200, 404, 401),
    ("collections", "delete"): (405, 405, 405, 405, 405, 401),
    ("worker-skills", "read"): (200, 200, 404, 200, 404, 401),
    ("worker-skills", "create"): (405, 405, 405, 405, 405, 401),
    ("decisions", "read"): (200, 200, 404, 200, 404, 401),
    ("decisions", "create"): (405, 405, 405, 405, 405, 401),
}

CASES = [(res, act, role, codes[i]) for (res, act), codes in EXPECTED.items() for i, role in enumerate(ROLES)]


def test_it_covers_every_registered_endpoint(api: Any, world: World) -> None:
    api.force_authenticate(world.max)
    root = api.get("/api/").json()
    assert set(RESOURCES) <= set(root), set(root) - set(RESOURCES)
    reads = {res for (res, act) in EXPECTED if act == "read"}
    assert reads == set(RESOURCES)


@pytest.mark.parametrize(("resource", "action", "role", "expected"), CASES,
                         ids=[f"{r}-{a}-{p}" for r, a, p, _ in CASES])
def test_it_enforces_the_matrix(api: Any, world: World, resource: str, action: str, role: str,
                                expected: int) -> None:
    prefix, url_of, create, patch = RESOURCES[resource]
    if role != "anon":
        api.force_authenticate(getattr(world, role))
    url = url_of(world)
    if action == "read":
        response = api.get(url)
    elif action == "create":
        response = api.post(f"/api/{prefix}/", create(world) if create else {}, format="json")
    elif action == "update":
        response = api.patch(url, patch(world) if patch else {}, format="json")
    else:
        response = api.delete(url)
    assert response.status_code == expected, (response.status_code, getattr(response, "data", None))
    if expected >= 400 and expected != 405:
        assert set(response.json()) == {"error", "field"}


@pytest.mark.parametrize("role", ["ann", "eve", "max"])
def test_it_lists_only_objects_of_the_readers_projects(api: Any, world: World, role: str) -> None:
    api.force_authenticate(getattr(world, role))
    listed = {c["name"] for c in api.get("/api/concepts/").json()["results"]}
    assert listed == {"gourmet tuna"}  # never Birds' "heron"


def test_it_lists_nothing_of_another_project_to_an_outsider(api: Any, world: World) -> None:
    api.force_authenticate(world.oli)
    for prefix in ("concepts", "pools", "items", "assignments", "answers", "labels", "batches"):
        names = api.get(f"/api/{prefix}/").json()["results"]
        assert all(row.get("project", world.birds.pk) == world.birds.pk for row in names), prefix
    assert [c["name"] for c in api.get("/api/concepts/").json()["results"]] == ["heron"]
