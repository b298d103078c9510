"""The loop run headless through the studio's services with a simulated expert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobs.models import Job
from labeling.models import Answer, Assignment
from modeling.headless import HeadlessConfig, run_through_services
from modeling.models import ModelVersion


def test_it_runs_rounds_through_the_services(db: Any, studio_settings: Any, cifar_folder: Path) -> None:
    config = HeadlessConfig(pool=cifar_folder, eval=cifar_folder, concept="airplane", positive_classes=["airplane"],
                            positive_phrases=["jet plane"], negative_phrases=[], rounds=2, batch=10, seed=1)
    result = run_through_services(config, observe=lambda label: None)
    assert [r["round"] for r in result["rounds"]] == [0, 1, 2]
    assert [r["labels"] for r in result["rounds"]] == [10, 20, 30]
    assert set(result["zero_shot"]) == {"auc_pr", "auc_roc", "f1", "accuracy"}
    assert all(0 <= r["auc_pr"] <= 1 for r in result["rounds"])
    # Every answer went through the answer service, once per item, and every step was a job.
    answers = Answer.objects.filter(assignment__batch__concept_id=result["concept"])
    assert answers.count() == 30
    assert answers.values("assignment__item_id").distinct().count() == 30
    assert not Assignment.objects.filter(batch__concept_id=result["concept"], status="open").exists()
    assert ModelVersion.objects.filter(concept_id=result["concept"]).count() == 3
    kinds = sorted(Job.objects.filter(project_id=result["project"]).values_list("kind", flat=True))
    assert kinds.count("al_round") == 2 and kinds.count("train") == 3 and kinds.count("embed_pool") == 2
