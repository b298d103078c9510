"""GET /api/concepts/{id}/crowd-quality/: per worker and cohort, agreement per batch,
crowd-vs-expert disagreements; every figure checked against the answers themselves."""

from __future__ import annotations

from statistics import median
from typing import Any

import numpy as np
import pytest

from aggregation.models import WorkerSkill
from aggregation.quality import krippendorff_alpha, reliability_matrix
from labeling.choices import LabelSource
from labeling.models import Answer, Label
from tests.crowd.world import CrowdWorld
from tests.reports.crowd_run import run_batch


def quality(api: Any, world: CrowdWorld, user: Any) -> dict[str, Any]:
    api.force_authenticate(user)
    response = api.get(f"/api/concepts/{world.concept.pk}/crowd-quality/")
    assert response.status_code == 200, response.json()
    return dict(response.json())


def test_it_reports_each_workers_accuracy_answers_time_rates_and_agreement(api: Any, crowd: CrowdWorld) -> None:
    run_batch(api, crowd)
    body = quality(api, crowd, crowd.max)
    rows = {row["username"]: row for row in body["workers"]}
    assert set(rows) == {w.username for w in crowd.workers}
    finals = dict(Label.objects.filter(concept=crowd.concept, source=LabelSource.AGGREGATED)
                  .values_list("item_id", "value"))
    gold_ids = {item.pk for item in crowd.gold}
    for worker in crowd.workers:
        row = rows[worker.username]
        answers = list(Answer.objects.filter(worker=worker, retracted_at__isnull=True))
        skill = WorkerSkill.objects.get(concept=crowd.concept, worker=worker)
        assert row["answers"] == len(answers) > 0
        assert row["median_seconds"] == pytest.approx(median(a.seconds for a in answers))
        assert row["dont_know_rate"] == pytest.approx(sum(a.value == "dont_know" for a in answers) / len(answers),
                                                      abs=1e-4)
        assert row["broken_rate"] == 0
        assert row["status"] == skill.status and row["skill"] == skill.pk
        assert row["accuracy_low"] <= row["accuracy"] <= row["accuracy_high"]
        assert row["accuracy"] == pytest.approx(skill.accuracy, abs=1e-4)
        votes = [a for a in answers if a.value in ("yes", "no") and a.assignment.item_id not in gold_ids
                 and a.assignment.item_id in finals]
        agreeing = sum((a.value == "yes") == finals[a.assignment.item_id] for a in votes)
        assert row["agreement_compared"] == len(votes)
        assert row["agreement"] == pytest.approx(agreeing / len(votes), abs=1e-4)
    assert rows["w4"]["agreement"] < 0.5 < rows["w1"]["agreement"]  # the contrarian stands out
    assert rows["w4"]["accuracy"] < rows["w1"]["accuracy"]
    assert rows["w6"]["median_seconds"] == 9.0 and rows["w5"]["dont_know_rate"] > 0


def test_it_compares_cohorts_on_accuracy_and_cost(api: Any, crowd: CrowdWorld) -> None:
    sent = run_batch(api, crowd)
    [cohort] = quality(api, crowd, crowd.max)["cohorts"]
    skills = WorkerSkill.objects.filter(concept=crowd.concept, cohort=crowd.cohort)
    correct, answered = sum(s.gold_correct for s in skills), sum(s.gold_answered for s in skills)
    assert cohort["name"] == "day" and cohort["batches"] == [sent["batch"]] and cohort["workers"] == 6
    assert cohort["accuracy"] == pytest.approx(correct / answered, abs=1e-4)
    assert cohort["accuracy_low"] < cohort["accuracy"] < cohort["accuracy_high"]
    answers = Answer.objects.filter(assignment__batch_id=sent["batch"]).count()
    assert cohort["answers"] == answers
    assert float(cohort["cost"]) == pytest.approx(0.05 * answers)
    confident = cohort["confident_labels"]
    if confident:
        assert float(cohort["cost_per_confident_label"]) == pytest.approx(0.05 * answers / confident, abs=1e-4)


def test_it_gives_krippendorffs_alpha_per_batch_with_a_bootstrap_interval(api: Any, crowd: CrowdWorld) -> None:
    sent = run_batch(api, crowd)
    [batch] = quality(api, crowd, crowd.max)["batches"]
    assert batch["batch"] == sent["batch"] and batch["items_pairable"] > 2
    assert batch["alpha_low"] <= batch["alpha"] <= batch["alpha_high"]
    assert batch["alpha"] < 1  # w4 disagrees with everyone


def test_it_computes_alpha_as_the_krippendorff_package_does() -> None:
    def answers(matrix: list[list[str | None]]) -> list[dict[str, Any]]:
        return [{"worker": w, "item": i, "value": v} for w, row in enumerate(matrix) for i, v in enumerate(row) if v]

    same = answers([["yes", "no", "yes", "no"], ["yes", "no", "yes", "no"]])
    assert krippendorff_alpha(reliability_matrix(same))["alpha"] == 1.0
    # Krippendorff (2011), "Computing Krippendorff's alpha", the nominal example of two coders: alpha = 0.095.
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    coded = answers([["yes" if x else "no" for x in a], ["yes" if x else "no" for x in b]])
    result = krippendorff_alpha(reliability_matrix(coded))
    assert result["alpha"] == pytest.approx(0.095, abs=1e-3)
    assert result["alpha_low"] <= result["alpha"] <= result["alpha_high"]
    assert krippendorff_alpha(np.full((2, 3), np.nan))["alpha"] is None  # nothing pairable


def test_it_lists_the_items_where_crowd_and_expert_disagree(api: Any, crowd: CrowdWorld) -> None:
    run_batch(api, crowd)
    crowd_labels = Label.objects.filter(concept=crowd.concept, source=LabelSource.AGGREGATED)
    agreeing, disagreeing = list(crowd_labels[:2])
    for label, value in ((agreeing, agreeing.value), (disagreeing, not disagreeing.value)):
        Label.objects.create(item_id=label.item_id, concept=crowd.concept, value=value, source=LabelSource.EXPERT,
                             method="expert")
    [row] = quality(api, crowd, crowd.ann)["disagreements"]
    assert row["item"] == disagreeing.item_id and row["crowd"] == disagreeing.value
    assert row["expert"] == (not disagreeing.value) and row["n_answers"] == disagreeing.n_answers
