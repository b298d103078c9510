"""Hidden golds, worker accuracy and pausing, as workers and managers meet them."""

from __future__ import annotations

from typing import Any

import pytest

from aggregation.models import WorkerSkill
from labeling.models import Assignment
from tests.crowd.steps import answer, build_gold, next_tasks, send_to_crowd, truthful, work_until_done
from tests.crowd.world import GOLD, CrowdWorld


def test_it_mixes_each_gold_in_at_most_once_then_goes_on_without(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, build_gold(api, crowd), onboarding=2, gold_rate=0.5, kappa=1)["batch"]
    work_until_done(api, crowd, crowd.workers[0], batch)
    given = list(Assignment.objects.filter(batch_id=batch, assignee=crowd.workers[0]).values_list("item_id", flat=True))
    assert len(given) == len(set(given))                     # nothing twice
    golds = {i.pk for i in crowd.gold}
    assert set(given) >= golds                               # every gold once, at a rate of 1/2 ...
    assert {i.pk for i in crowd.work} <= set(given)          # ... and all the work after they ran out
    skill = WorkerSkill.objects.get(worker=crowd.workers[0])
    assert skill.gold_answered == GOLD and skill.gold_correct == GOLD


def test_it_keeps_a_hidden_gold_indistinguishable_from_work(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, build_gold(api, crowd), onboarding=0, gold_rate=0.5)["batch"]
    golds = {i.pk for i in crowd.gold}
    shapes = {}
    for _ in range(12):
        lease = next_tasks(api, crowd.workers[0], batch)
        assert lease["status"] == "work" and lease["onboarding"] is None
        task = lease["assignments"][0]
        shapes[task["item"] in golds] = (set(lease), set(task), set(task["task"]), lease["message"])
        answer(api, crowd.workers[0], task["id"], truthful(crowd, task))
    assert set(shapes) == {True, False}
    assert shapes[True] == shapes[False]  # same keys, same task, same (empty) message


def test_it_pauses_a_worker_whose_interval_falls_under_the_bar(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, build_gold(api, crowd), onboarding=0, gold_rate=0.5,
                          pause_bar=0.6)["batch"]
    golds = {i.pk for i in crowd.gold}

    def wrong_on_golds(world: CrowdWorld, task: dict[str, Any]) -> str:
        right = truthful(world, task)
        return ("no" if right == "yes" else "yes") if task["item"] in golds else right

    seen = work_until_done(api, crowd, crowd.workers[0], batch, decide=wrong_on_golds)
    assert seen[-1]["status"] == "paused" and "paused" in seen[-1]["message"]
    skill = WorkerSkill.objects.get(worker=crowd.workers[0])
    assert skill.status == "paused" and skill.paused_by == "auto" and skill.accuracy_high < 0.6
    assert skill.gold_correct == 0


def test_it_lets_a_manager_pause_and_resume_a_worker(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, build_gold(api, crowd), onboarding=0)["batch"]
    assert next_tasks(api, crowd.workers[1], batch)["status"] == "work"
    skill = WorkerSkill.objects.get(worker=crowd.workers[1])
    for who, code in ((crowd.ann, 403), (crowd.workers[1], 404)):
        api.force_authenticate(who)
        assert api.post(f"/api/worker-skills/{skill.pk}/pause/").status_code == code
    api.force_authenticate(crowd.max)
    assert api.post(f"/api/worker-skills/{skill.pk}/pause/").json()["status"] == "paused"
    # The lease already held may still be answered; nothing new is given.
    held = next_tasks(api, crowd.workers[1], batch, hold=2)
    assert held["status"] == "work" and len(held["assignments"]) == 1
    answer(api, crowd.workers[1], held["assignments"][0]["id"], "yes")
    assert next_tasks(api, crowd.workers[1], batch)["status"] == "paused"
    api.force_authenticate(crowd.max)
    assert api.post(f"/api/worker-skills/{skill.pk}/resume/").json()["status"] == "active"
    assert next_tasks(api, crowd.workers[1], batch)["status"] == "work"


def test_it_does_not_count_dont_know_or_broken_as_wrong(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, build_gold(api, crowd), onboarding=3)["batch"]
    values = iter(["dont_know", "broken", "yes", "no", "yes", "no"])

    def unsure_first(world: CrowdWorld, task: dict[str, Any]) -> str:
        value = next(values)
        return truthful(world, task) if value in ("yes", "no") else value

    for _ in range(5):
        lease = next_tasks(api, crowd.workers[2], batch)
        if lease["status"] != "onboarding":
            break
        task = lease["assignments"][0]
        answer(api, crowd.workers[2], task["id"], unsure_first(crowd, task))
    skill = WorkerSkill.objects.get(worker=crowd.workers[2])
    assert (skill.onboarding_seen, skill.onboarding_counted, skill.onboarding_correct) == (5, 3, 3)
    assert skill.status == "active" and skill.gold_answered == 3


@pytest.mark.parametrize("who", ["zed", "ann", "max"])
def test_it_gives_no_work_to_people_outside_the_cohort(api: Any, crowd: CrowdWorld, who: str) -> None:
    batch = send_to_crowd(api, crowd, build_gold(api, crowd))["batch"]
    api.force_authenticate(getattr(crowd, who))
    response = api.post("/api/crowd/next/", {"batch": batch}, format="json")
    assert response.status_code == 404 and set(response.json()) == {"error", "field"}
