"""The demo's pool and concept: 2,000 real textile images (``conformal-clip-data``, MIT)
embedded with the offline encoder, a concept with a first batch ready to rate, and (after
the headless crowd) its expert- and crowd-trained models on one evaluation set."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs.execution import run_job
from jobs.models import Job
from jobs.registry import Reporter
from labeling.choices import AnswerValue, BatchKind, PoolStatus
from labeling.models import Batch, Concept, Pool, Project
from labeling.services import submit_answer
from modeling.models import ModelVersion

DEMO_POOL = "Textile images"
DEMO_CONCEPT = {
    "name": "defective fabric",
    "description": "Woven fabric with a visible flaw: a local blemish or a global distortion of the weave.",
    "positive_phrases": ["torn fabric", "stained cloth", "damaged textile"],
    "negative_phrases": ["clean plain fabric"],
}


def textile_source() -> Path:
    import conformal_clip_data

    return Path(conformal_clip_data.textile_simulated_root())


def _run_now(project: Project, kind: str, params: dict[str, Any], user: Any, observer: Reporter | None) -> Job:
    job = Job.objects.create(project=project, kind=kind, params=params, created_by=user)
    run_job(job.pk, observer)
    job.refresh_from_db()
    if job.status != Job.Status.SUCCEEDED:
        raise RuntimeError(f"The demo's {kind} job failed: {job.error}")
    return job


def ensure_demo_pool(project: Project, user: Any, observer: Reporter | None = None) -> Pool:
    """The textile pool, embedded (seconds from the cache after the first run)."""
    pool, _ = Pool.objects.get_or_create(project=project, name=DEMO_POOL,
                                         defaults={"source": str(textile_source()), "encoder": "offline"})
    if pool.status != PoolStatus.READY:
        _run_now(project, "embed_pool", {"pool": pool.pk}, user, observer)
        pool.refresh_from_db()
    return pool


def ensure_demo_concept(project: Project, expert: Any, pool: Pool) -> tuple[Concept, Batch]:
    """The demo concept, with its first rating batch (expansion) waiting for the expert."""
    concept, _ = Concept.objects.get_or_create(project=project, name=DEMO_CONCEPT["name"], defaults={
        "owner": expert, **{k: v for k, v in DEMO_CONCEPT.items() if k != "name"}})
    batch = Batch.objects.filter(concept=concept, kind=BatchKind.EXPERT_RATING).order_by("id").first()
    if batch is None:
        job = _run_now(project, "expand", {"concept": concept.pk, "pool": pool.pk, "size": 100}, expert, None)
        batch = Batch.objects.get(pk=job.result["batch"])
    return concept, batch


def ensure_demo_models(project: Project, expert: Any, concept: Concept, pool: Pool,
                       is_positive: Callable[[str], bool], k: int = 10) -> list[ModelVersion]:
    """Expert- and crowd-trained models of the demo concept, measured on one evaluation set,
    so the manager's dashboard has both kinds of curves: a model on the simulated expert's
    labels, one on the headless crowd's, one on both; the evaluation set drawn across them
    and rated by the simulated expert (``is_positive`` reads an item's truth from its key).
    Made once; a re-run finds them again."""
    versions = list(ModelVersion.objects.filter(concept=concept, pool=pool).order_by("number"))
    if {v.source for v in versions} >= {"expert", "crowd", "both"}:
        return versions
    base = {"concept": concept.pk, "pool": pool.pk}
    for source in ("expert", "crowd", "both"):
        _run_now(project, "train", {**base, "label_source": source}, expert, None)
    evaluation = _run_now(project, "evaluation_set", {**base, "k": k}, expert, None)
    batch = Batch.objects.get(pk=evaluation.result["batch"])
    for assignment in batch.assignments.select_related("item").order_by("position"):
        submit_answer(worker=expert, assignment=assignment, client_id=uuid.uuid4(), seconds=None,
                      value=AnswerValue.YES if is_positive(assignment.item.key) else AnswerValue.NO)
    return list(ModelVersion.objects.filter(concept=concept, pool=pool).order_by("number"))
