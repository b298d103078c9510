"""Leases: what "next" hands out, what an expired lease frees, what the caps refuse."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from aggregation.models import CollectionItem
from labeling.models import Answer, Assignment
from tests.crowd.steps import answer, build_gold, next_tasks, send_to_crowd, truthful, work_until_done
from tests.crowd.world import CrowdWorld


def expire(assignment_id: int) -> None:
    Assignment.objects.filter(pk=assignment_id).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_it_gives_the_same_leases_back_until_they_are_answered(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, None, method="mv", onboarding=0)["batch"]
    first = next_tasks(api, crowd.workers[0], batch, hold=2)["assignments"]
    again = next_tasks(api, crowd.workers[0], batch, hold=2)["assignments"]
    assert [a["id"] for a in first] == [a["id"] for a in again] and len(first) == 2
    answer(api, crowd.workers[0], first[0]["id"], "yes")
    after = next_tasks(api, crowd.workers[0], batch, hold=2)["assignments"]
    assert after[0]["id"] == first[1]["id"] and after[1]["id"] not in {a["id"] for a in first}


def test_it_never_leases_an_item_beyond_what_it_wants(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, None, method="mv", onboarding=0, overlap=2, kappa=3,
                          items=[crowd.work[0].pk])["batch"]
    leases = [next_tasks(api, w, batch)["assignments"] for w in crowd.workers[:4]]
    assert [len(held) for held in leases] == [1, 1, 0, 0]  # overlap 2: two at once, no more
    expire(leases[0][0]["id"])
    assert len(next_tasks(api, crowd.workers[2], batch)["assignments"]) == 1  # the expired lease freed its place


def test_it_refuses_a_late_answer_to_an_item_already_full(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, None, method="mv", onboarding=0, kappa=1, items=[crowd.work[0].pk])["batch"]
    [late] = next_tasks(api, crowd.workers[0], batch)["assignments"]
    expire(late["id"])
    [prompt] = next_tasks(api, crowd.workers[1], batch)["assignments"]
    assert answer(api, crowd.workers[1], prompt["id"], "yes").status_code == 201
    response = answer(api, crowd.workers[0], late["id"], "no")
    assert response.status_code == 409 and "no more answers" in response.json()["error"]
    item = CollectionItem.objects.get(collection__batch_id=batch, item=crowd.work[0])
    assert item.n_answers == 1 and Answer.objects.filter(assignment__batch_id=batch).count() == 1


def test_it_accepts_a_late_answer_while_the_item_still_wants_one(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, None, method="mv", onboarding=0, kappa=3, tau=1.0,
                          items=[crowd.work[0].pk])["batch"]
    [late] = next_tasks(api, crowd.workers[0], batch)["assignments"]
    expire(late["id"])
    assert answer(api, crowd.workers[0], late["id"], "yes").status_code == 201


def test_it_stops_leasing_work_when_the_budget_is_spent(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, None, method="mv", onboarding=0, kappa=3, tau=1.0, budget=5)["batch"]
    for worker in crowd.workers[:3]:
        work_until_done(api, crowd, worker, batch)
    assert Answer.objects.filter(assignment__batch_id=batch).count() == 5
    assert next_tasks(api, crowd.workers[4], batch)["status"] == "no_work"


def first_work_task(api: Any, crowd: CrowdWorld, worker: Any, batch: int) -> dict[str, Any]:
    """Answer onboarding truthfully, then return the first work lease."""
    while (lease := next_tasks(api, worker, batch))["status"] == "onboarding":
        task = lease["assignments"][0]
        answer(api, worker, task["id"], truthful(crowd, task))
    return dict(lease["assignments"][0])


def test_it_asks_about_started_items_first_under_the_threshold_policy(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, build_gold(api, crowd), onboarding=1, gold_rate=0.0, tau=0.99)["batch"]
    task = first_work_task(api, crowd, crowd.workers[0], batch)
    assert task["item"] == crowd.work[0].pk
    answer(api, crowd.workers[0], task["id"], truthful(crowd, task))  # one answer: not yet confident
    assert first_work_task(api, crowd, crowd.workers[1], batch)["item"] == crowd.work[0].pk


def test_it_gives_every_item_one_answer_first_under_uncertainty_sampling(api: Any, crowd: CrowdWorld) -> None:
    items = [i.pk for i in crowd.work[:3]]
    batch = send_to_crowd(api, crowd, build_gold(api, crowd), onboarding=1, gold_rate=0.0, policy="uncertainty",
                          items=items, budget=5)["batch"]
    asked = []
    for worker in crowd.workers[:5]:
        task = first_work_task(api, crowd, worker, batch)
        asked.append(task["item"])
        answer(api, worker, task["id"], truthful(crowd, task))
    assert sorted(asked[:3]) == sorted(items)  # every item once before any second answer
    assert next_tasks(api, crowd.workers[5], batch)["status"] in ("no_work", "onboarding")


def test_it_finishes_the_batch_and_says_so(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, build_gold(api, crowd), onboarding=0, gold_rate=0.0, kappa=1,
                          items=[crowd.work[0].pk, crowd.work[1].pk])["batch"]
    work_until_done(api, crowd, crowd.workers[0], batch)
    assert next_tasks(api, crowd.workers[1], batch)["status"] == "finished"
    api.force_authenticate(crowd.ann)
    [collection] = api.get(f"/api/collections/?batch={batch}").json()["results"]
    assert collection["status"] == "finished"
    assert collection["progress"]["done"] == 2 and collection["progress"]["open"] == 0


def test_it_waits_for_the_initial_overlap_before_a_confident_stop(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, None, method="mv", onboarding=0, overlap=2, kappa=2, tau=0.5,
                          items=[crowd.work[0].pk, crowd.work[1].pk])["batch"]
    [mine] = next_tasks(api, crowd.workers[0], batch)["assignments"]
    [theirs] = next_tasks(api, crowd.workers[1], batch)["assignments"]
    assert mine["item"] == theirs["item"]  # overlap 2: both hold the first item
    answer(api, crowd.workers[1], theirs["id"], "yes")  # one vote reaches tau .5, but the item wants two answers
    item = CollectionItem.objects.get(collection__batch_id=batch, item_id=mine["item"])
    assert item.status == "open" and item.n_answers == 1
    held = next_tasks(api, crowd.workers[0], batch, hold=2)["assignments"]
    assert held[0]["id"] == mine["id"]  # the held lease stays: its answer is wanted
    assert answer(api, crowd.workers[0], mine["id"], "yes").status_code == 201
    item.refresh_from_db()
    assert (item.status, item.reason, item.n_answers) == ("done", "confident", 2)


def test_it_says_a_closed_batch_is_finished(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, None, method="mv", onboarding=0)["batch"]
    assert next_tasks(api, crowd.workers[0], batch)["assignments"]
    api.force_authenticate(crowd.ann)
    assert api.patch(f"/api/batches/{batch}/", {"status": "closed"}, format="json").status_code == 200
    lease = next_tasks(api, crowd.workers[0], batch)
    assert lease["status"] == "finished" and lease["assignments"] == []
