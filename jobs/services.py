"""Long work as Jobs: created in a request, run outside it, reported live.

``enqueue`` creates the row and dispatches it after the transaction commits; ``retry``
re-queues a failed job.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from jobs.errors import JobStateError
from jobs.events import publish
from jobs.execution import job_event, this_worker
from jobs.models import Job
from jobs.registry import function_for
from jobs.runners import dispatch


def enqueue(project: Any, kind: str, params: dict[str, Any], user: Any = None) -> Job:
    function_for(kind)  # unknown kinds fail here, in the request, not later in a worker
    created = Job.objects.create(project=project, kind=kind, params=params, created_by=user, worker=this_worker())
    transaction.on_commit(lambda: (publish(project.pk, "job.progress", job_event(created)), dispatch(created.pk)))
    return created


def retry(job_row: Job) -> Job:
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job_row.pk)
        if locked.status != Job.Status.FAILED:
            raise JobStateError(f"Only a failed job can be retried; this one is {locked.status}.")
        locked.status, locked.error, locked.finished_at = Job.Status.QUEUED, "", None
        locked.message = "Queued for retry"
        locked.save(update_fields=["status", "error", "finished_at", "message"])
        transaction.on_commit(lambda: dispatch(locked.pk))
    return locked
