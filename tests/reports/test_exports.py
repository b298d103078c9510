"""The exports, loaded back as other tools load them: pandas and crowd-kit read the
answers CSV as it is, pandas the labels (CSV and JSONL) and the worker accuracies."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest
from crowdkit.aggregation import MajorityVote

from aggregation.models import WorkerSkill
from labeling.choices import LabelSource
from labeling.models import Answer, Label
from tests.crowd.world import CrowdWorld
from tests.reports.crowd_run import run_batch


def export(api: Any, world: CrowdWorld, name: str, user: Any = None) -> Any:
    api.force_authenticate(user or world.max)
    response = api.get(f"/api/concepts/{world.concept.pk}/exports/{name}")
    assert response.status_code == 200, response.content[:300]
    assert "attachment" in response["Content-Disposition"]
    return response


def test_it_exports_answers_that_crowd_kit_aggregates_as_they_are(api: Any, crowd: CrowdWorld) -> None:
    run_batch(api, crowd)
    response = export(api, crowd, "answers.csv")
    assert response["Content-Type"].startswith("text/csv")
    frame = pd.read_csv(io.BytesIO(response.content))
    assert list(frame.columns) == ["task", "worker", "label"]
    votes = Answer.objects.filter(assignment__batch__concept=crowd.concept, value__in=["yes", "no"],
                                  retracted_at__isnull=True)
    assert len(frame) == votes.count() and set(frame["label"]) == {"yes", "no"}
    assert set(frame["worker"]) == {w.username for w in crowd.workers}
    majority = MajorityVote().fit_predict(frame)
    work = {item.pk for item in crowd.work}
    assert set(majority.index) >= work
    # One worker (w4) is always wrong and answers an item at most once, so wherever the
    # votes are not tied the majority is right; ties (w4 against one honest vote, as the
    # leases happened to fall) are crowd-kit's to break.
    counts = frame.groupby(["task", "label"]).size().unstack(fill_value=0)
    strict = [item for item in work if counts.loc[item].get("yes", 0) != counts.loc[item].get("no", 0)]
    assert len(strict) >= len(work) // 2
    assert all((majority[item] == "yes") == crowd.truth[item] for item in strict)


def test_it_exports_labels_as_csv_and_jsonl(api: Any, crowd: CrowdWorld) -> None:
    run_batch(api, crowd)
    as_csv = pd.read_csv(io.BytesIO(export(api, crowd, "labels.csv").content))
    as_jsonl = pd.read_json(io.BytesIO(export(api, crowd, "labels.jsonl").content), lines=True)
    labels = Label.objects.filter(concept=crowd.concept)
    for frame in (as_csv, as_jsonl):
        assert {"item", "value", "posterior_yes", "n_answers", "method", "source"} <= set(frame.columns)
        assert len(frame) == labels.count()
        assert set(frame["source"]) == {LabelSource.EXPERT, LabelSource.AGGREGATED}
    crowd_rows = as_jsonl[as_jsonl["source"] == "aggregated"].set_index("item")
    for label in labels.filter(source=LabelSource.AGGREGATED):
        row = crowd_rows.loc[label.item_id]
        assert bool(row["value"]) == label.value and row["n_answers"] == label.n_answers
        assert row["posterior_yes"] == pytest.approx(label.posterior_yes) and row["method"] == label.method
    assert set(as_csv["value"]) <= {0, 1}


def test_it_exports_worker_accuracies(api: Any, crowd: CrowdWorld) -> None:
    run_batch(api, crowd)
    frame = pd.read_csv(io.BytesIO(export(api, crowd, "worker-accuracies.csv", crowd.ann).content))
    assert set(frame["username"]) == {w.username for w in crowd.workers}
    for skill in WorkerSkill.objects.filter(concept=crowd.concept).select_related("worker"):
        row = frame[frame["username"] == skill.worker.username].iloc[0]
        assert row["accuracy"] == pytest.approx(skill.accuracy, abs=1e-4)
        assert row["accuracy_low"] == pytest.approx(skill.accuracy_low, abs=1e-4)
        assert row["gold_answered"] == skill.gold_answered and row["status"] == skill.status
