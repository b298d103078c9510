"""A crowd batch of the small crowd world answered by six workers who err differently:
w1..w3 always right, w4 always wrong, w5 says "don't know" to items of odd id (right
otherwise), w6 right but slow. 0.05 per answer; gtx (tau .99), every item asked three times, no
onboarding, a third of the leases hidden golds."""

from __future__ import annotations

from typing import Any

from tests.crowd.steps import build_gold, next_tasks, send_to_crowd
from tests.crowd.world import CrowdWorld

PRICE = "0.05"


def behaviour(world: CrowdWorld, worker: Any, task: dict[str, Any]) -> tuple[str, float]:
    truth = world.truth[task["item"]]
    right, wrong = ("yes", "no") if truth else ("no", "yes")
    name = worker.username
    if name == "w4":
        return wrong, 2.0
    if name == "w5" and task["item"] % 2:
        return "dont_know", 3.0
    return right, 9.0 if name == "w6" else 1.0


def run_batch(api: Any, world: CrowdWorld, **settings: Any) -> dict[str, Any]:
    gold = build_gold(api, world)
    sent = send_to_crowd(api, world, gold, method="gtx", kappa=3, overlap=3, tau=0.99, onboarding=0,
                         pause_bar=0.0, gold_rate=0.3, price=PRICE, **settings)
    for _ in range(400):
        progressed = False
        for worker in world.workers:
            lease = next_tasks(api, worker, sent["batch"])
            if not lease["assignments"]:
                continue
            task = lease["assignments"][0]
            value, seconds = behaviour(world, worker, task)
            api.force_authenticate(worker)
            response = api.post("/api/answers/", {"assignment": task["id"], "value": value, "seconds": seconds,
                                                  "client_id": _uuid()}, format="json")
            assert response.status_code in (201, 409), response.json()
            progressed = True
        if not progressed:
            return sent
    raise AssertionError("the crowd never finished")


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())

