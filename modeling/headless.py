"""The expert loop run headless through the studio's own services and job functions, with
a simulated expert answering from the images' class folders (``manage.py simulate
--through-services``). Every step is the one the studio takes: pool embedding job,
expansion job, answers through ``submit_answer``, training and AL-round jobs; only the
expert is simulated. Metrics are measured on a separate evaluation pool scored by each
model version (the studio's "score a pool" job), against the evaluation folders' classes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.utils import timezone

from jobs.execution import run_job
from jobs.models import Job
from jobs.registry import Reporter
from labeling.choices import AnswerValue, Role
from labeling.models import Assignment, Concept, Item, Membership, Pool, Project
from labeling.services import submit_answer
from modeling import evaluation
from modeling.engine.metrics import evaluate

Observer = Callable[[str], Reporter | None]


@dataclass(frozen=True)
class HeadlessConfig:
    pool: Path
    eval: Path
    concept: str
    positive_classes: list[str]
    positive_phrases: list[str]
    negative_phrases: list[str]
    strategy: str = "margin"
    rounds: int = 5
    batch: int = 100
    seed: int = 0
    error_rate: float = 0.0


class SimulatedExpert:
    """Answers yes when the item's class folder is a positive class (flipped at ``error_rate``)."""

    def __init__(self, user: Any, positive_classes: list[str], error_rate: float, seed: int) -> None:
        self.user, self.positive = user, set(positive_classes)
        self.error_rate, self.rng = error_rate, np.random.default_rng(seed)

    def rate_batch(self, batch_id: int) -> int:
        open_work = Assignment.objects.filter(batch_id=batch_id, assignee=self.user, status="open").select_related("item")
        count = 0
        for assignment in open_work:
            truth = assignment.item.key.split("/", 1)[0] in self.positive
            if self.rng.random() < self.error_rate:
                truth = not truth
            submit_answer(worker=self.user, assignment=assignment, value=AnswerValue.YES if truth else AnswerValue.NO,
                          client_id=uuid.uuid4(), seconds=None)
            count += 1
        return count


def _job(project: Project, user: Any, kind: str, params: dict[str, Any], observer: Reporter | None = None) -> Job:
    job = Job.objects.create(project=project, kind=kind, params=params, created_by=user)
    run_job(job.pk, observer)
    job.refresh_from_db()
    if job.status != Job.Status.SUCCEEDED:
        raise RuntimeError(f"{kind} job failed: {job.error}")
    return job


def _metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    estimates = evaluate(labels, scores, n_boot=0)
    return {name: round(float(estimates[name].value), 4) for name in ("auc_pr", "auc_roc", "f1", "accuracy")}


def run_through_services(config: HeadlessConfig, observe: Observer) -> dict[str, Any]:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    user = get_user_model().objects.create_user(f"simulated-expert-{stamp}-{uuid.uuid4().hex[:4]}")
    project = Project.objects.create(name=f"Simulation {stamp} {config.concept}", created_by=user)
    Membership.objects.create(project=project, user=user, role=Role.EXPERT)
    pools = {}
    for name, source in (("pool", config.pool), ("evaluation", config.eval)):
        pools[name] = Pool.objects.create(project=project, name=name, source=str(source), encoder="offline")
        _job(project, user, "embed_pool", {"pool": pools[name].pk}, observe(f"Embedding the {name}"))
    pool, eval_pool = pools["pool"], pools["evaluation"]
    concept = Concept.objects.create(project=project, owner=user, name=config.concept,
                                     positive_phrases=config.positive_phrases, negative_phrases=config.negative_phrases)
    eval_items = list(Item.objects.filter(pool=eval_pool).order_by("row").values_list("key", flat=True))
    truth = np.array([key.split("/", 1)[0] in set(config.positive_classes) for key in eval_items], dtype=np.int64)
    expert = SimulatedExpert(user, config.positive_classes, config.error_rate, config.seed)

    zero_shot = _metrics(truth, evaluation.zero_shot_pool_scores(concept, eval_pool))
    expanded = _job(project, user, "expand", {"concept": concept.pk, "pool": pool.pk, "size": config.batch,
                                              "seed": config.seed})
    labels = expert.rate_batch(expanded.result["batch"])
    rounds = []
    for number in range(config.rounds + 1):
        trained = _job(project, user, "train", {"concept": concept.pk, "pool": pool.pk}, observe(f"Round {number}"))
        scored = _job(project, user, "score_pool", {"model_version": trained.result["model_version"],
                                                    "pool": eval_pool.pk})
        rounds.append({"round": number, "labels": labels, **_metrics(truth, np.load(scored.result["scores_file"]))})
        if number == config.rounds:
            break
        chosen = _job(project, user, "al_round", {"concept": concept.pk, "pool": pool.pk, "strategy": config.strategy,
                                                  "batch_size": config.batch, "seed": config.seed + number})
        labels += expert.rate_batch(chosen.result["batch"])
    return {"zero_shot": zero_shot, "rounds": rounds, "project": project.pk, "concept": concept.pk}
