"""The steps of the crowd loop as a user takes them, through the API (DRF's test client)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.crowd.world import CrowdWorld


def build_gold(api: Any, world: CrowdWorld, size: int = 8) -> int:
    api.force_authenticate(world.ann)
    response = api.post("/api/assessment-sets/build/", {"concept": world.concept.pk, "name": "gold", "size": size},
                        format="json")
    assert response.status_code == 201, response.json()
    return int(response.json()["id"])


def send_to_crowd(api: Any, world: CrowdWorld, assessment: int | None, **settings: Any) -> dict[str, Any]:
    api.force_authenticate(world.ann)
    body = {"cohort": world.cohort.pk, "source": "items", "items": [i.pk for i in world.work],
            "assessment_set": assessment, **settings}
    response = api.post(f"/api/concepts/{world.concept.pk}/crowd-batches/", body, format="json")
    assert response.status_code == 201, response.json()
    return dict(response.json())


def next_tasks(api: Any, user: Any, batch: int, hold: int = 1) -> dict[str, Any]:
    api.force_authenticate(user)
    response = api.post("/api/crowd/next/", {"batch": batch, "hold": hold}, format="json")
    assert response.status_code == 200, response.json()
    return dict(response.json())


def answer(api: Any, user: Any, assignment: int, value: str, client_id: str | None = None) -> Any:
    api.force_authenticate(user)
    return api.post("/api/answers/", {"assignment": assignment, "value": value, "seconds": 1.2,
                                      "client_id": client_id or str(uuid.uuid4())}, format="json")


def truthful(world: CrowdWorld, assignment: dict[str, Any]) -> str:
    return "yes" if world.truth[assignment["item"]] else "no"


def work_until_done(api: Any, world: CrowdWorld, user: Any, batch: int, decide: Any = truthful,
                    limit: int = 200) -> list[dict[str, Any]]:
    """The worker answers every task they are given (``decide(world, assignment)``) until
    there is none; returns what each "next" said."""
    seen = []
    for _ in range(limit):
        lease = next_tasks(api, user, batch)
        seen.append(lease)
        if not lease["assignments"]:
            return seen
        task = lease["assignments"][0]
        response = answer(api, user, task["id"], decide(world, task))
        assert response.status_code in (201, 409), response.json()
    raise AssertionError("the worker never ran out of work")
