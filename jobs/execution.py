"""Running one job: status, throttled progress, live events, failure capture.

The same ``run_job`` runs on the in-process thread pool and on Celery workers.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from django.db import close_old_connections, connection, connections, transaction
from django.utils import timezone

from jobs import mapreduce
from jobs.events import publish
from jobs.models import Job
from jobs.registry import Reporter, function_for

log = logging.getLogger(__name__)
PROGRESS_EVERY_SECONDS = 0.3


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def job_event(job: Job) -> dict[str, Any]:
    return {"job": job.pk, "kind": job.kind, "status": job.status, "done": job.done, "total": job.total,
            "message": job.message, "created_by": job.created_by_id}


class Progress:
    """Writes progress to the row and the websocket, at most every 0.3 s (and at the end).

    ``observer`` also sees every call (e.g. a terminal progress bar in a command).
    """

    def __init__(self, job: Job, observer: Reporter | None = None) -> None:
        self.job = job
        self.observer = observer
        self.last = 0.0

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if self.observer is not None:
            self.observer(done, total, message)
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_SECONDS and done < total:
            return
        self.last = now
        self.job.done, self.job.total = max(done, 0), max(total, 0)
        self.job.message = message[:500] or self.job.message
        Job.objects.filter(pk=self.job.pk).update(done=self.job.done, total=self.job.total, message=self.job.message)
        publish(self.job.project_id, "job.progress", job_event(self.job))


def _claim(job_id: int) -> Job | None:
    """Mark the job running, unless another runner already took it or it was cancelled."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != Job.Status.QUEUED:
            return None
        job.status, job.started_at, job.worker = Job.Status.RUNNING, timezone.now(), this_worker()
        job.attempts += 1
        job.error = ""
        job.save(update_fields=["status", "started_at", "worker", "attempts", "error"])
    return job


def _drop_stale_connections() -> None:
    """Worker threads and Celery processes keep connections across jobs: drop broken or
    expired ones. Not inside a caller's transaction (a job run in-line), which it would end."""
    if not connection.in_atomic_block:
        close_old_connections()


def run_job(job_id: int, observer: Reporter | None = None) -> None:
    _drop_stale_connections()
    try:
        job = _claim(job_id)
        if job is None:
            return
        publish(job.project_id, "job.progress", job_event(job))
        try:
            pending = mapreduce.pending_step(job)  # a retried job resumes its map step
            result = pending or function_for(job.kind)(job, Progress(job, observer))
            if isinstance(result, mapreduce.MapStep):
                mapreduce.start(job, result)  # shards, then the reduce, finish the job
                return
        except Exception as exc:  # any failure of the work is reported on the job, never lost
            log.exception("Job %s (%s) failed", job.pk, job.kind)
            _finish(job, Job.Status.FAILED, error=describe_error(exc))
        else:
            _finish(job, Job.Status.SUCCEEDED, result=result or {})
    finally:
        if not connection.in_atomic_block:
            # A job thread's connection would otherwise outlive the thread.
            connections.close_all()


def describe_error(exc: Exception) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:2000]


def _finish(job: Job, status: str, *, result: dict[str, Any] | None = None, error: str = "") -> None:
    job.status, job.finished_at, job.error = status, timezone.now(), error
    job.result = result if result is not None else job.result
    if status == Job.Status.SUCCEEDED and job.total:
        job.done = job.total
    job.save(update_fields=["status", "finished_at", "error", "result", "done"])
    publish(job.project_id, "job.finished", {**job_event(job), "result": job.result, "error": job.error})



def fail_job(job: Job, error: str) -> None:
    """Mark a running job failed with ``error`` (a no-op if it already stopped)."""
    if Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
            status=Job.Status.FAILED, finished_at=timezone.now(), error=error[:2000]):
        job.refresh_from_db()
        publish(job.project_id, "job.finished", {**job_event(job), "result": job.result, "error": job.error})


def finish_job(job: Job, result: dict[str, Any]) -> None:
    """Mark a job succeeded with ``result`` (the end of its last reduce)."""
    job.refresh_from_db(fields=["done", "total", "message"])
    _finish(job, Job.Status.SUCCEEDED, result=result or {})
