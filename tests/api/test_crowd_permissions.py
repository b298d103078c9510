"""The crowd endpoints that are actions, not resources: every role x every action.

Roles as in the permission matrix: ann (expert, owns the concept), eve (expert, does not),
bob (worker in the batch's cohort), max (manager), oli (outsider), anon."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.people import World

ROLES = ("ann", "eve", "bob", "max", "oli", "anon")
Call = Callable[[Any, World], Any]


def _post(url: Callable[[World], str], body: Callable[[World], dict[str, Any]]) -> Call:
    return lambda api, w: api.post(url(w), body(w), format="json")


def _get(url: Callable[[World], str]) -> Call:
    return lambda api, w: api.get(url(w))


ACTIONS: dict[str, tuple[Call, tuple[int, ...]]] = {
    #                                                                             ann  eve  bob  max  oli  anon
    "next task": (_post(lambda w: "/api/crowd/next/", lambda w: {"batch": w.collection.batch_id}),
                  (404, 404, 200, 404, 404, 401)),
    "my work": (_get(lambda w: "/api/crowd/work/"), (200, 200, 200, 200, 200, 401)),
    "send to crowd": (_post(lambda w: f"/api/concepts/{w.concept.pk}/crowd-batches/",
                            lambda w: {"cohort": w.cohort_a.pk, "source": "items", "items": [w.items[4].pk],
                                       "method": "mv"}),
                      (201, 403, 404, 201, 404, 401)),
    "build assessment set": (_post(lambda w: "/api/assessment-sets/build/",
                                   lambda w: {"concept": w.concept.pk, "name": "g", "items": [w.items[0].pk]}),
                             (201, 403, 404, 403, 404, 401)),
    "re-aggregate": (_post(lambda w: f"/api/collections/{w.collection.pk}/reaggregate/", lambda w: {}),
                     (202, 403, 404, 202, 404, 401)),
    "pause worker": (_post(lambda w: f"/api/worker-skills/{w.skill.pk}/pause/", lambda w: {}),
                     (403, 403, 404, 200, 404, 401)),
    "resume worker": (_post(lambda w: f"/api/worker-skills/{w.skill.pk}/resume/", lambda w: {}),
                      (403, 403, 404, 200, 404, 401)),
    "template preview": (_get(lambda w: f"/api/templates/{w.template.pk}/preview/"),
                         (200, 200, 404, 200, 404, 401)),
}
CASES = [(name, role, codes[i]) for name, (_, codes) in ACTIONS.items() for i, role in enumerate(ROLES)]


@pytest.mark.parametrize(("action", "role", "expected"), CASES, ids=[f"{a}-{r}" for a, r, _ in CASES])
def test_it_enforces_the_crowd_actions(api: Any, world: World, action: str, role: str, expected: int) -> None:
    call, _ = ACTIONS[action]
    if role != "anon":
        api.force_authenticate(getattr(world, role))
    response = call(api, world)
    assert response.status_code == expected, (response.status_code, response.json())
    if expected >= 400:
        assert set(response.json()) == {"error", "field"}


def test_it_shows_a_worker_only_their_own_work(api: Any, world: World) -> None:
    api.force_authenticate(world.cat)  # in cohort B: the batch went to cohort A
    assert api.get("/api/crowd/work/").json() == {"results": []}
    api.force_authenticate(world.bob)
    [entry] = api.get("/api/crowd/work/").json()["results"]
    assert entry["batch"] == world.collection.batch_id and entry["has_work"] is True
