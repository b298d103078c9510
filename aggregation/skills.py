"""Worker skills per concept: onboarding, hidden golds, Beta intervals, pausing.

A worker's accuracy on a concept is the mean of the Beta posterior
Beta(s·m + correct, s·(1 − m) + wrong) over their yes/no answers to gold items
(onboarding and hidden golds alike), where the prior mean m is the mean accuracy of the
other assessed workers of their cohort on the concept (0.5 while nobody is assessed) and
s = 2 pseudo-answers. "Don't know" and "Broken image" answers to golds count neither as
right nor as wrong. After every gold answer the posterior and its 95 % interval are
recomputed; a worker whose whole interval lies under the batch's pause bar is paused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Avg

from aggregation.engine import beta_summary
from aggregation.models import Collection, WorkerSkill
from labeling.choices import AnswerValue

PRIOR_STRENGTH = 2.0
UNASSESSED_PRIOR = 0.5


def cohort_prior(concept_id: int, cohort_id: int | None, exclude_worker: int | None = None) -> float:
    """Mean accuracy of the cohort's assessed workers on the concept (0.5 if none)."""
    skills = WorkerSkill.objects.filter(concept_id=concept_id, gold_answered__gt=0)
    if cohort_id is not None:
        skills = skills.filter(cohort_id=cohort_id)
    if exclude_worker is not None:
        skills = skills.exclude(worker_id=exclude_worker)
    mean = skills.aggregate(m=Avg("accuracy"))["m"]
    # Keep the prior strictly inside (0, 1): a cohort of perfect workers is still a prior.
    return float(np.clip(mean, 0.02, 0.98)) if mean is not None else UNASSESSED_PRIOR


def skill_of(concept_id: int, worker: Any, cohort_id: int | None, *, lock: bool = False) -> WorkerSkill:
    """The worker's skill row for the concept, created (onboarding) on first use."""
    rows = WorkerSkill.objects.select_for_update() if lock else WorkerSkill.objects
    skill = rows.filter(concept_id=concept_id, worker=worker).first()
    if skill is not None:
        return skill
    prior = cohort_prior(concept_id, cohort_id)
    skill, _ = WorkerSkill.objects.get_or_create(
        concept_id=concept_id, worker=worker,
        defaults={"cohort_id": cohort_id, "prior_mean": prior, "accuracy": prior,
                  **_interval(0, 0, prior)})
    if lock:
        skill = WorkerSkill.objects.select_for_update().get(pk=skill.pk)
    return skill


def _interval(correct: int, answered: int, prior: float) -> dict[str, float]:
    summary = beta_summary(np.array([correct]), np.array([answered]), prior, PRIOR_STRENGTH)
    return {"accuracy": float(summary.mean[0]), "accuracy_low": float(summary.lower[0]),
            "accuracy_high": float(summary.upper[0])}


def onboarding_needed(skill: WorkerSkill, collection: Collection, golds_available: int) -> int:
    """How many more onboarding golds the worker must answer (0: onboarding is over)."""
    if skill.status != WorkerSkill.Status.ONBOARDING:
        return 0
    wanted = min(collection.onboarding, golds_available)
    return max(wanted - skill.onboarding_counted, 0) if skill.onboarding_seen < golds_available else 0


def record_gold_answer(skill: WorkerSkill, value: str, expected: bool, collection: Collection,
                       *, onboarding: bool, golds_available: int) -> WorkerSkill:
    """Fold one answer to a gold item into the (locked) skill row and decide the status."""
    counted = value in (AnswerValue.YES, AnswerValue.NO)
    correct = counted and (value == AnswerValue.YES) == expected
    if onboarding:
        skill.onboarding_seen += 1
        skill.onboarding_counted += int(counted)
        skill.onboarding_correct += int(correct)
    skill.gold_answered += int(counted)
    skill.gold_correct += int(correct)
    skill.prior_mean = cohort_prior(skill.concept_id, skill.cohort_id, exclude_worker=skill.worker_id)
    for field, number in _interval(skill.gold_correct, skill.gold_answered, skill.prior_mean).items():
        setattr(skill, field, number)
    settle_onboarding(skill, collection, golds_available)
    if skill.status == WorkerSkill.Status.ACTIVE and counted and skill.accuracy_high < collection.pause_bar:
        skill.status, skill.paused_by = WorkerSkill.Status.PAUSED, "auto"
    skill.save()
    return skill


def settle_onboarding(skill: WorkerSkill, collection: Collection, golds_available: int) -> bool:
    """End onboarding once nothing more is needed: active at or above the pass bar (or
    when the batch has no onboarding), failed below it or with no yes/no answer at all.
    Returns whether the status changed (the caller saves)."""
    if skill.status != WorkerSkill.Status.ONBOARDING or onboarding_needed(skill, collection, golds_available):
        return False
    if collection.onboarding == 0 or golds_available == 0:
        passed = True
    elif skill.onboarding_counted == 0:
        passed = False
    else:
        passed = skill.onboarding_correct / skill.onboarding_counted >= collection.pass_bar
    skill.status = WorkerSkill.Status.ACTIVE if passed else WorkerSkill.Status.FAILED
    return True


def accuracies(concept_id: int, worker_ids: list[int], cohort_id: int | None) -> dict[int, float]:
    """The accuracy aggregation uses for each worker (the cohort prior for the unassessed)."""
    known: dict[int, float | None] = {w: None for w in worker_ids}
    known.update(WorkerSkill.objects.filter(concept_id=concept_id, worker_id__in=worker_ids)
                 .values_list("worker_id", "accuracy"))
    return with_priors(known, concept_id, cohort_id)


def with_priors(known: dict[int, float | None], concept_id: int, cohort_id: int | None) -> dict[int, float]:
    """Accuracies by worker, None (no skill row yet) replaced by the cohort prior."""
    prior = cohort_prior(concept_id, cohort_id) if any(a is None for a in known.values()) else UNASSESSED_PRIOR
    return {w: prior if a is None else float(a) for w, a in known.items()}


def set_paused(skill: WorkerSkill, paused: bool) -> WorkerSkill:
    """A manager pauses or resumes a worker by hand."""
    if paused:
        skill.status, skill.paused_by = WorkerSkill.Status.PAUSED, "manager"
    elif skill.status == WorkerSkill.Status.PAUSED:
        skill.status, skill.paused_by = WorkerSkill.Status.ACTIVE, ""
    skill.save(update_fields=["status", "paused_by", "updated_at"])
    return skill
