"""Re-aggregating a whole crowd batch as a job (Dawid-Skene, one-coin, any engine method):
every label traced to its answers, earlier decisions kept."""

from __future__ import annotations

from typing import Any

from aggregation.models import Decision
from labeling.choices import LabelSource
from labeling.models import Label
from tests.crowd.steps import build_gold, send_to_crowd, truthful, work_until_done
from tests.crowd.world import CrowdWorld
from tests.studio.conftest import run_queued_jobs


def crowd_labels(api: Any, crowd: CrowdWorld, **settings: Any) -> tuple[int, int]:
    sent = send_to_crowd(api, crowd, build_gold(api, crowd), onboarding=2, gold_rate=0.0, **settings)
    flip = {i.pk for i in crowd.work[::4]}

    def noisy(world: CrowdWorld, task: dict[str, Any]) -> str:  # w1 errs on a quarter of the work
        right = truthful(world, task)
        return ("no" if right == "yes" else "yes") if task["item"] in flip and task["assignee"] == "w1" else right

    for worker in crowd.workers:
        work_until_done(api, crowd, worker, sent["batch"], decide=noisy)
    return int(sent["id"]), int(sent["batch"])


def test_it_reaggregates_with_dawid_skene_and_keeps_the_live_decisions(api: Any, crowd: CrowdWorld) -> None:
    collection, batch = crowd_labels(api, crowd, kappa=3, tau=0.99)
    live = {d.item_id: d.pk for d in Decision.objects.filter(collection__batch_id=batch, job__isnull=True)}
    assert len(live) == len(crowd.work)
    api.force_authenticate(crowd.ann)
    response = api.post(f"/api/collections/{collection}/reaggregate/", {"method": "dawid-skene"}, format="json")
    assert response.status_code == 202, response.json()
    [job] = run_queued_jobs()
    assert job.status == "succeeded", job.error
    assert job.result["labels"] == len(crowd.work) and job.result["method"] == "dawid-skene"
    for label in Label.objects.filter(concept=crowd.concept, source=LabelSource.AGGREGATED):
        assert label.method == "dawid-skene" and label.value == crowd.truth[label.item_id]
        latest = Decision.objects.filter(label=label).latest("id")
        assert latest.job_id == job.pk and latest.n_answers == len(latest.inputs) == label.n_answers
        assert Decision.objects.filter(pk=live[label.item_id]).exists()  # the live decision is kept
    decisions = api.get(f"/api/decisions/?batch={batch}&item={crowd.work[0].pk}").json()["results"]
    assert [d["method"] for d in decisions] == ["gtx", "dawid-skene"]
    assert {a["worker"] for a in decisions[-1]["inputs"]} <= {w.pk for w in crowd.workers}


def test_it_refuses_an_unknown_method_and_strangers(api: Any, crowd: CrowdWorld) -> None:
    collection, _ = crowd_labels(api, crowd, kappa=1)
    api.force_authenticate(crowd.ann)
    response = api.post(f"/api/collections/{collection}/reaggregate/", {"method": "oracle"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "method"
    api.force_authenticate(crowd.workers[0])
    assert api.post(f"/api/collections/{collection}/reaggregate/", {}, format="json").status_code == 404
    api.force_authenticate(crowd.max)  # a manager may re-aggregate
    assert api.post(f"/api/collections/{collection}/reaggregate/", {"method": "one-coin"},
                    format="json").status_code == 202
