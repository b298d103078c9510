"""The job function of "What does the model need?" (GenMQD), discovered by ModelingConfig."""

from __future__ import annotations

from typing import Any

from jobs.models import Job
from jobs.registry import Reporter, job
from labeling.models import Concept, Pool
from modeling import genmqd


@job("genmqd")
def what_model_needs(job_row: Job, progress: Reporter) -> dict[str, Any]:
    """Synthesise, describe and gather one query per class; the images become a rating batch."""
    concept = Concept.objects.get(pk=job_row.params["concept"])
    pool = Pool.objects.get(pk=job_row.params["pool"])
    return genmqd.what_model_needs(concept, pool, job_row.params, progress)
