"""Where jobs run: threads in this process (default) or Celery workers (JOBS_BACKEND=celery)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from jobs.execution import run_job

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.JOBS_THREADS, thread_name_prefix="job")
        return _pool


def dispatch(job_id: int) -> None:
    """Hand the job to the configured runner (called after the creating transaction commits)."""
    if settings.JOBS_BACKEND == "celery":
        from jobs.tasks import run_job_task

        run_job_task.delay(job_id)
    else:
        _threads().submit(run_job, job_id)


def wait_for_idle(timeout: float = 60.0) -> None:
    """Block until every in-process job submitted so far has finished (tests, demo set-up)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True)
