"""Jobs whose process died are marked failed, never left "running"."""

from __future__ import annotations

import os
import socket
from typing import Any

from django.db.models import Q
from django.utils import timezone

from jobs.models import Job


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_orphans() -> int:
    """Fail the jobs of this host whose process is gone (a crash or restart).

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
