"""The crowd loop end to end through the API: gold set, crowd batch, onboarding, hidden
golds, leases, live aggregation with re-querying, labels, decisions, re-aggregation."""

from __future__ import annotations

from typing import Any

from aggregation.models import CollectionItem, Decision, WorkerSkill
from labeling.choices import LabelSource
from labeling.models import Label
from tests.crowd.steps import answer, build_gold, next_tasks, send_to_crowd, truthful, work_until_done
from tests.crowd.world import CrowdWorld


def test_it_onboards_a_new_worker_on_gold_items_first(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, build_gold(api, crowd), onboarding=4)["batch"]
    gold_ids = {i.pk for i in crowd.gold}
    for step in range(4):
        lease = next_tasks(api, crowd.workers[0], batch, hold=2)
        assert lease["status"] == "onboarding"
        assert lease["onboarding"] == {"answered": step, "total": 4}
        [task] = lease["assignments"]  # onboarding golds come one at a time
        assert task["item"] in gold_ids
        assert answer(api, crowd.workers[0], task["id"], truthful(crowd, task)).status_code == 201
    lease = next_tasks(api, crowd.workers[0], batch, hold=2)
    assert lease["status"] == "work" and len(lease["assignments"]) == 2
    skill = WorkerSkill.objects.get(worker=crowd.workers[0], concept=crowd.concept)
    assert (skill.status, skill.gold_answered, skill.gold_correct) == ("active", 4, 4)
    assert skill.accuracy == (0.5 * 2 + 4) / 6  # Beta(1, 1) prior: nobody else assessed yet


def test_it_tells_a_failing_worker_their_score_and_gives_no_work(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, build_gold(api, crowd), onboarding=4)["batch"]
    def wrong(world: CrowdWorld, task: dict[str, Any]) -> str:
        return "no" if truthful(world, task) == "yes" else "yes"
    work_until_done(api, crowd, crowd.workers[0], batch, decide=wrong)
    lease = next_tasks(api, crowd.workers[0], batch)
    assert lease["status"] == "failed" and lease["assignments"] == []
    assert lease["score"] == {"correct": 0, "counted": 4, "pass_bar": 0.7}
    assert "0 of 4" in lease["message"]


def test_it_labels_every_item_through_the_crowd_with_re_queries(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, build_gold(api, crowd), onboarding=2, tau=0.95, kappa=3,
                          gold_rate=0.0)["batch"]
    for worker in crowd.workers:
        work_until_done(api, crowd, worker, batch)
    items = CollectionItem.objects.filter(collection__batch_id=batch, is_gold=False)
    assert all(i.status == "done" for i in items)
    assert max(i.n_answers for i in items) <= 3
    labels = {lab.item_id: lab for lab in Label.objects.filter(concept=crowd.concept, source=LabelSource.AGGREGATED)}
    assert set(labels) == {i.pk for i in crowd.work}
    assert all(labels[i].value == crowd.truth[i] for i in labels)  # truthful workers
    # Two perfect golds give accuracy 5/6 = .83: one answer reaches .83 < tau, so every item
    # was asked again and finished on its second (agreeing) answer.
    assert {i.n_answers for i in items} == {2}
    decision = Decision.objects.filter(item_id=crowd.work[0].pk).latest("id")
    assert decision.label_id == labels[crowd.work[0].pk].pk and len(decision.inputs) == 2
    assert labels[crowd.work[0].pk].n_answers == 2 and labels[crowd.work[0].pk].posterior_yes is not None
