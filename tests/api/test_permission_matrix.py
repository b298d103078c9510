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
    ("memberships", "create"): (403, 403, 403, 201, 400, 401),  # oli: no such project for him
    ("memberships", "update"): (403, 403, 404, 200, 404, 401),
    ("memberships", "delete"): (403, 403, 404, 204, 404, 401),
    ("cohorts", "read"): (200, 200, 404, 200, 404, 401),
    ("cohorts", "create"): (403, 403, 403, 201, 400, 401),
    ("cohorts", "update"): (403, 403, 404, 200, 404, 401),
    ("cohorts", "delete"): (403, 403, 404, 409, 404, 401),  # a batch still uses the cohort
    ("concepts", "read"): (200, 200, 404, 200, 404, 401),
    ("concepts", "create"): (201, 201, 403, 403, 400, 401),
    ("concepts", "update"): (200, 403, 404, 403, 404, 401),
    ("concepts", "delete"): (204, 403, 404, 403, 404, 401),
    ("pools", "read"): (200, 200, 404, 200, 404, 401),
    ("pools", "create"): (201, 201, 403, 201, 400, 401),
    ("pools", "update"): (200, 200, 404, 200, 404, 401),
    ("pools", "delete"): (204, 204, 404, 204, 404, 401),
    ("items", "read"): (200, 200, 404, 200, 404, 401),
    ("items", "create"): (201, 201, 400, 201, 400, 401),  # bob may not read pools
    ("items", "update"): (200, 200, 404, 200, 404, 401),
    ("items", "delete"): (204, 204, 404, 204, 404, 401),
    ("templates", "read"): (200, 200, 404, 200, 404, 401),
    ("templates", "create"): (201, 403, 400, 403, 400, 401),
    ("templates", "update"): (200, 403, 404, 403, 404, 401),
    ("templates", "delete"): (409, 403, 404, 403, 404, 401),  # a crowd batch still uses it
    ("assessment-sets", "read"): (200, 200, 404, 200, 404, 401),
    ("assessment-sets", "create"): (201, 403, 400, 403, 400, 401),
    ("assessment-sets", "update"): (200, 403, 404, 403, 404, 401),
    ("assessment-sets", "delete"): (204, 403, 404, 403, 404, 401),
    ("batches", "read"): (200, 200, 404, 200, 404, 401),
    ("batches", "create"): (201, 403, 400, 403, 400, 401),
    ("batches", "update"): (200, 403, 404, 403, 404, 401),
    ("batches", "delete"): (204, 403, 404, 403, 404, 401),
    ("assignments", "read"): (200, 200, 200, 200, 404, 401),  # bob's own assignment
    ("assignments", "create"): (201, 403, 400, 403, 400, 401),
    ("assignments", "update"): (200, 403, 403, 403, 404, 401),
    ("assignments", "delete"): (204, 403, 403, 403, 404, 401),
    ("answers", "read"): (200, 200, 404, 200, 404, 401),  # cat's answer
    ("answers", "create"): (400, 400, 201, 400, 400, 401),  # only the assignee answers: no such assignment for others
    ("answers", "update"): (405, 405, 405, 405, 405, 401),  # answers are never edited
    ("answers", "delete"): (405, 405, 405, 405, 405, 401),
    ("labels", "read"): (200, 200, 404, 200, 404, 401),
    ("labels", "create"): (201, 403, 400, 403, 400, 401),
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


# --- moves: no write may take an object (or point it) out of its project ----------------
# PATCH the object's parent key (a membership's project, an item's pool, an assignment's
# batch ...) to an object of another project: "theirs" is a project where the mover is
# manager and expert (so only the rule "parent keys are fixed" stands in the way),
# "foreign" is Birds (which the mover cannot see: such an id does not exist for them).
# Whoever may update the object gets a 400 naming the parent field; everyone else gets
# what they get for any update. Either way the object stays where it was.
#                  ann  eve  bob  max  oli  anon
MOVES: dict[str, tuple[int, ...]] = {
    "memberships": (403, 403, 404, 400, 404, 401),
    "cohorts": (403, 403, 404, 400, 404, 401),
    "concepts": (400, 403, 404, 403, 404, 401),
    "pools": (400, 400, 404, 400, 404, 401),
    "items": (400, 400, 404, 400, 404, 401),
    "templates": (400, 403, 404, 403, 404, 401),
    "assessment-sets": (400, 403, 404, 403, 404, 401),
    "batches": (400, 403, 404, 403, 404, 401),
    "assignments": (400, 403, 403, 403, 404, 401),
    "answers": (405, 405, 405, 405, 405, 401),
    "labels": (400, 403, 404, 403, 404, 401),
    "model-versions": (405, 405, 405, 405, 405, 401),
    "jobs": (405, 405, 405, 405, 405, 401),
}
MOVE_CASES = [(res, target, role, codes[i]) for res, codes in MOVES.items() for target in ("theirs", "foreign")
              for i, role in enumerate(ROLES)]


def viewsets_by_prefix() -> dict[str, Any]:
    from config.urls import router

    return {prefix: viewset for prefix, viewset, _ in router.registry}


def policy_resource(prefix: str) -> str:
    viewset = viewsets_by_prefix()[prefix]
    return getattr(viewset, "resource", None) or {"model-versions": "model_version"}[prefix]


def instance_at(world: World, prefix: str) -> Any:
    viewset = viewsets_by_prefix()[prefix]
    pk = int(RESOURCES[prefix][1](world).rstrip("/").rsplit("/", 1)[1])
    return viewset.queryset.model.objects.get(pk=pk)


def foreign_targets(world: World) -> dict[type, Any]:
    from labeling.models import Assignment, Batch, Concept, Item, Pool, Project

    pool = Pool.objects.create(project=world.birds, name="herons", source=world.pool.source)
    batch = Batch.objects.create(concept=world.other_concept, kind="crowd", created_by=world.oli)
    item = Item.objects.create(pool=pool, key="heron.png")
    assignment = Assignment.objects.create(batch=batch, item=item, assignee=world.oli)
    return {Project: world.birds, Pool: pool, Concept: world.other_concept, Batch: batch, Assignment: assignment}


def test_it_lists_a_move_for_every_resource_with_a_parent() -> None:
    from labeling.permissions import POLICY

    assert set(MOVES) == set(RESOURCES) - {"projects"}
    for prefix in MOVES:
        rule = POLICY[policy_resource(prefix)]
        assert rule.parent, prefix  # every resource but projects hangs from a parent


@pytest.mark.parametrize(("resource", "target", "role", "expected"), MOVE_CASES,
                         ids=[f"{r}-{t}-{p}" for r, t, p, _ in MOVE_CASES])
def test_it_refuses_every_move(api: Any, world: World, tmp_path: Any, resource: str, target: str, role: str,
                               expected: int) -> None:
    from labeling.permissions import POLICY
    from tests.people import build_elsewhere

    obj = instance_at(world, resource)
    parent = POLICY[policy_resource(resource)].parent
    assert parent is not None
    mover = getattr(world, role) if role != "anon" else world.oli
    targets = build_elsewhere(mover, tmp_path / "there") if target == "theirs" else foreign_targets(world)
    destination = targets[type(getattr(obj, parent))]
    if role != "anon":
        api.force_authenticate(mover)
    response = api.patch(RESOURCES[resource][1](world), {parent: destination.pk, "role": "manager"}, format="json")
    assert response.status_code == expected, (response.status_code, response.json())
    assert set(response.json()) == {"error", "field"}
    if expected == 400:
        assert response.json()["field"] == parent
    obj.refresh_from_db()
    assert getattr(obj, f"{parent}_id") != destination.pk


def test_it_refuses_the_membership_escalation_of_the_issue(api: Any, world: World) -> None:
    """Anyone may create a project (and manage it); their own membership there must not
    become a manager's membership of someone else's project."""
    from labeling.models import Membership

    api.force_authenticate(world.bob)
    mine = api.post("/api/projects/", {"name": "Bob's"}, format="json").json()
    membership = Membership.objects.get(project_id=mine["id"], user=world.bob)
    for victim in (world.fish, world.birds):
        response = api.patch(f"/api/memberships/{membership.pk}/", {"project": victim.pk, "role": "manager"},
                             format="json")
        assert response.status_code == 400 and response.json()["field"] == "project"
    assert not Membership.objects.filter(user=world.bob, role="manager").exclude(project_id=mine["id"]).exists()
    assert not Membership.objects.filter(project=world.birds, user=world.bob).exists()


def writable_references(serializer: Any) -> list[tuple[str, Any, Any]]:
    """(field, model, nested child serializer or None) for every writable related field."""
    from rest_framework.relations import ManyRelatedField, RelatedField
    from rest_framework.serializers import ListSerializer, Serializer

    found = []
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        if isinstance(field, ListSerializer) and isinstance(field.child, Serializer):
            for inner_name, inner in field.child.fields.items():
                if isinstance(inner, RelatedField) and not inner.read_only:
                    found.append((name, inner.queryset.model, (field.child, inner_name)))
            continue
        if isinstance(field, ManyRelatedField):
            field = field.child_relation
        if isinstance(field, RelatedField):
            found.append((name, field.queryset.model, None))
    return found


def reference_value(pk: int, nested: Any) -> Any:
    """A value for the field: the id, or one nested row naming it (required flags set)."""
    if nested is None:
        return pk
    child, inner_name = nested
    row: dict[str, Any] = {inner_name: pk}
    for name, field in child.fields.items():
        if field.required and name != inner_name:
            row[name] = True if field.__class__.__name__ == "BooleanField" else "x"
    return [row]


REFERENCE_CASES = [prefix for prefix in MOVES if prefix not in ("answers", "model-versions", "jobs")]


@pytest.mark.parametrize("resource", REFERENCE_CASES)
@pytest.mark.parametrize("write", ["update", "create"])
def test_it_refuses_every_reference_to_another_project(api: Any, world: World, tmp_path: Any, resource: str,
                                                       write: str) -> None:
    """Every writable foreign key of every resource but its parent (the moves above),
    nested ones too, found from its serializer: pointing it into another project is a 400
    naming the field, and nothing changes. The writer is manager and expert of that other
    project, so only the same-project rule stands in the way."""
    from django.contrib.auth import get_user_model

    from labeling.permissions import POLICY

    prefix, url_of, create, _ = RESOURCES[resource]
    writer = next(getattr(world, role) for role in ("ann", "max")
                  if EXPECTED[(resource, "update")][ROLES.index(role)] == 200)
    api.force_authenticate(writer)
    viewset = viewsets_by_prefix()[resource]
    references = writable_references(viewset.serializer_class(context={"request": None}))
    elsewhere = build_elsewhere_for(writer, tmp_path)
    checked = 0
    parent = POLICY[policy_resource(resource)].parent
    for field, model, nested in references:
        if model is get_user_model() or field == parent:
            continue  # people are not of a project (serializers check membership); parents: above
        assert model in elsewhere, f"{resource}.{field}: add a {model.__name__} to build_elsewhere"
        value = reference_value(elsewhere[model].pk, nested)
        before = api.get(url_of(world)).json()
        if write == "update":
            response = api.patch(url_of(world), {field: value}, format="json")
        else:
            response = api.post(f"/api/{prefix}/", {**create(world), field: value}, format="json")
        assert response.status_code == 400, (field, response.json())
        assert response.json()["field"].split(".")[0].split("[")[0] == field, response.json()
        assert api.get(url_of(world)).json() == before
        checked += 1
    return None if checked else pytest.skip(f"{resource} refers to nothing but its parent")


def build_elsewhere_for(user: Any, tmp_path: Any) -> dict[type, Any]:
    from tests.people import build_elsewhere

    return build_elsewhere(user, tmp_path / "there")
