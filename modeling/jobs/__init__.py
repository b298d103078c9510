"""Long work as Jobs: created in a request, run outside it, reported live.

``enqueue`` creates the row and dispatches it after the transaction commits; ``retry``
re-queues a failed job; ``recover_orphans`` marks jobs whose process died as failed.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from labeling.errors import Conflict
from labeling.models import Project
from modeling.jobs.execution import job_event, run_job
from modeling.jobs.registry import job
from modeling.jobs.runners import dispatch, wait_for_idle
from modeling.models import Job

__all__ = ["enqueue", "job", "recover_orphans", "RecoverOrphansOnStart", "retry", "run_job", "wait_for_idle"]


def enqueue(project: Project, kind: str, params: dict[str, Any], user: Any = None) -> Job:
    from labeling.events import publish
    from modeling.jobs.execution import this_worker
    from modeling.jobs.registry import function_for

    function_for(kind)  # unknown kinds fail here, in the request, not later in a worker
    created = Job.objects.create(project=project, kind=kind, params=params, created_by=user, worker=this_worker())
    transaction.on_commit(lambda: (publish(project.pk, "job.progress", job_event(created)), dispatch(created.pk)))
    return created


def retry(job_row: Job) -> Job:
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job_row.pk)
        if locked.status != Job.Status.FAILED:
            raise Conflict(f"Only a failed job can be retried; this one is {locked.status}.")
        locked.status, locked.error, locked.finished_at = Job.Status.QUEUED, "", None
        locked.message = "Queued for retry"
        locked.save(update_fields=["status", "error", "finished_at", "message"])
        transaction.on_commit(lambda: dispatch(locked.pk))
    return locked


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_orphans() -> int:
    """Fail the jobs of this host whose process is gone (a crash or restart), never leaving them "running".

    Returns how many were marked failed. Safe to call from every process at start-up.
    """
    from django.conf import settings

    host = socket.gethostname()
    # Queued jobs wait in the broker under Celery; in-process they die with their process.
    statuses = Q(status=Job.Status.RUNNING)
    if settings.JOBS_BACKEND == "inprocess":
        statuses |= Q(status=Job.Status.QUEUED)
    stuck = Job.objects.filter(statuses, worker__startswith=f"{host}:")
    orphaned = []
    for row in stuck:
        pid = int(row.worker.rsplit(":", 1)[1])
        if pid != os.getpid() and not _alive(pid):
            orphaned.append(row.pk)
    message = "The process running this job stopped before it finished (server restart or crash). Retry it."
    return Job.objects.filter(pk__in=orphaned).update(
        status=Job.Status.FAILED, error=message, finished_at=timezone.now()
    )


class RecoverOrphansOnStart:
    """ASGI wrapper: before a server process serves its first connection, fail the jobs its
    dead predecessors left running (no database access at import time)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.done = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        if not self.done and scope["type"] in ("http", "websocket"):
            from asgiref.sync import sync_to_async

            self.done = True
            await sync_to_async(recover_orphans)()
        return await self.app(scope, receive, send)
