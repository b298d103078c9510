"""Everything a crowd worker can get back, walked: leases (onboarding, hidden golds, work),
answer responses, their work list and every list and detail of the API. None of it holds
a gold marker, an expected answer, a posterior or confidence, an accuracy, an item key
(keys name the class), or another worker's name or answer."""

from __future__ import annotations

import json
from typing import Any

from labeling.models import Answer
from tests.crowd.steps import build_gold, send_to_crowd, truthful
from tests.crowd.world import CrowdWorld

FORBIDDEN = ['"expected"', "posterior", "confidence", "is_gold", "gold", "accuracy", "n_answers", "n_votes",
             '"reason"', "skill", '"decisions"']


def collect(api: Any, crowd: CrowdWorld, worker: Any, batch: int) -> list[Any]:
    bodies: list[Any] = []
    api.force_authenticate(worker)
    for _ in range(60):
        response = api.post("/api/crowd/next/", {"batch": batch, "hold": 2}, format="json")
        bodies.append(response.json())
        leases = response.json()["assignments"]
        if not leases:
            break
        task = leases[0]
        for client_id in (f"11111111-1111-4111-8111-{task['id']:012d}",) * 2:  # and its replay
            answered = api.post("/api/answers/", {"assignment": task["id"], "value": truthful(crowd, task),
                                                  "client_id": client_id}, format="json")
            bodies.append(answered.json())
        bodies.append(api.get(f"/api/assignments/{task['id']}/").json())
    bodies.append(api.get("/api/crowd/work/").json())
    root = api.get("/api/").json()
    for url in root.values():  # every list of the API, as this worker
        listed = api.get(url)
        bodies.append(listed.json() if listed.status_code != 405 else None)
    return bodies


def test_it_shows_a_worker_nothing_they_may_not_see(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, build_gold(api, crowd), onboarding=3, gold_rate=0.3, kappa=2,
                          tau=0.99)["batch"]
    other, me = crowd.workers[1], crowd.workers[0]
    collect(api, crowd, other, batch)  # someone else answers first: their answers must stay hidden
    text = json.dumps(collect(api, crowd, me, batch))
    for word in FORBIDDEN:
        assert word not in text, word
    for item in crowd.items:
        assert item.key not in text and item.key.split("/")[1] not in text
    assert other.username not in text
    for client_id in Answer.objects.filter(worker=other).values_list("client_id", flat=True):
        assert str(client_id) not in text
    assert Answer.objects.filter(worker=me).count() > 0
