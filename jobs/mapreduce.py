"""Map-reduce over a pool's shards, on Celery (a chord) or in this process, one code path.

A job function that has pool-wide work returns a :class:`MapStep` instead of its
result: a registered shard function to run on every shard, then a registered reducer.
``run_job`` hands it to :func:`start`, which records it on the job (so a retry resumes
here) and runs the shards that have no result yet:

- ``JOBS_BACKEND=celery``: ``chord(group(agile.run_shard per shard), agile.reduce_shards)``,
  so the shards run on any workers that share the pool storage, and the reduce runs once
  when the last shard is done;
- in-process: the same :func:`run_shard` per shard, then the same :func:`reduce`, here.

Every shard's result is a :class:`~jobs.models.ShardRun` row. A shard that raises marks
its row and the job failed, with a message naming the shard; the shards that succeeded
keep their rows, so ``jobs.services.retry`` re-runs the failed shard alone, then the
reduce. Nothing the reduce writes (batches, model versions) exists before it runs, so a
failed map step leaves nothing half-written.

A retry may start while shards of the failed attempt still run on other workers (a chord
does not stop its other tasks when one fails). A shard never runs twice at once: each run
claims the shard's row (a fresh ``token``, in one conditional UPDATE) and keeps its
``heartbeat_at`` fresh while it works; a second run of the shard finds the claim and waits
for it to end, then takes its result (or claims the shard once the first run failed, or
once its heartbeat is older than ``SHARD_STALE_SECONDS``: its worker died; on the same
host a dead process is seen at once). A task of an earlier attempt that had not started
yet does nothing: its chord is gone (the job's ``attempts`` travels with each task). A reducer may return another MapStep (a
chain: score every shard, then select from every shard). Progress is the sum over shards.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q, Sum
from django.utils import timezone

from jobs.models import Job, ShardRun
from jobs.registry import Reporter, load_modules

log = logging.getLogger(__name__)
STATE_KEY = "map_step"
PROGRESS_EVERY_SECONDS = 0.3
#: A running shard refreshes its heartbeat this often (Celery workers; in-process shards
#: refresh it with their progress, and a dead process on this host is seen at once).
SHARD_HEARTBEAT_SECONDS = 10.0
#: A claim whose heartbeat is older than this belongs to a dead worker: the shard is free.
SHARD_STALE_SECONDS = 60.0
#: How often a second run of a shard looks again whether the first one has ended.
SHARD_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class MapStep:
    """Run shard function ``step`` once per entry of ``shards`` (its JSON params), then
    reducer ``reduce`` over their results; ``context`` (JSON) goes to both."""

    step: str
    shards: list[dict[str, Any]]
    reduce: str
    context: dict[str, Any] = field(default_factory=dict)
    #: A registered reducer-like hook ``fn(job, [], context, progress)`` run when the step
    #: fails (e.g. mark the pool failed); its errors are logged, never raised.
    on_failure: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "shards": self.shards, "reduce": self.reduce, "context": self.context,
                "on_failure": self.on_failure}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MapStep:
        return cls(data["step"], list(data["shards"]), data["reduce"], dict(data.get("context") or {}),
                   data.get("on_failure", ""))


ShardFunction = Callable[[Job, dict[str, Any], dict[str, Any], Reporter], dict[str, Any]]
Reducer = Callable[[Job, list[dict[str, Any]], dict[str, Any], Reporter], "dict[str, Any] | MapStep"]
_SHARD_FUNCTIONS: dict[str, ShardFunction] = {}
_REDUCERS: dict[str, Reducer] = {}


def shard_function(name: str) -> Callable[[ShardFunction], ShardFunction]:
    """Register ``fn(job, shard_params, context, progress) -> JSON result`` as ``name``."""

    def register(fn: ShardFunction) -> ShardFunction:
        _SHARD_FUNCTIONS[name] = fn
        return fn

    return register


def reducer(name: str) -> Callable[[Reducer], Reducer]:
    """Register ``fn(job, results in shard order, context, progress) -> result | MapStep``."""

    def register(fn: Reducer) -> Reducer:
        _REDUCERS[name] = fn
        return fn

    return register


def _lookup(table: dict[str, Any], name: str) -> Any:
    load_modules()
    try:
        return table[name]
    except KeyError:
        raise LookupError(f"No shard function or reducer named {name!r}") from None


def pending_step(job: Job) -> MapStep | None:
    """The map step a job was in when it stopped (resumed by its retry), if any."""
    state = (job.result or {}).get(STATE_KEY)
    return MapStep.from_json(state) if state else None


def start(job: Job, step: MapStep) -> None:
    """Record ``step`` on the job and run its unfinished shards (then the reduce)."""
    job.result = {STATE_KEY: step.to_json()}
    Job.objects.filter(pk=job.pk).update(result=job.result, message=f"{step.step}: {len(step.shards)} shards")
    done = set(ShardRun.objects.filter(job=job, step=step.step, status=ShardRun.Status.SUCCEEDED)
               .values_list("shard", flat=True))
    todo = [i for i in range(len(step.shards)) if i not in done]
    if settings.JOBS_BACKEND == "celery":
        from celery import chord, group

        from jobs.tasks import reduce_shards_task, run_shard_task

        # The shards now run on whichever workers take them: the job is no longer tied to
        # this process, so restarting it must not mark the job orphaned (jobs.recovery).
        Job.objects.filter(pk=job.pk).update(worker="")
        if not todo:
            reduce_shards_task.delay([], job.pk)
            return
        chord(group(run_shard_task.s(job.pk, step.step, i, job.attempts) for i in todo))(
            reduce_shards_task.s(job.pk))
        return
    for i in todo:
        if not run_shard(job.pk, step.step, i, job.attempts, raise_errors=False):
            return
    reduce(job.pk)


def run_shard(job_id: int, step_name: str, shard: int, attempt: int | None = None, *,
              raise_errors: bool = True) -> bool:
    """Run one shard of the job's current map step (of its attempt ``attempt``); True when
    the shard has its result. On failure the shard's row and the job are marked failed
    (and the error re-raised for Celery). A run of the shard already under way (an earlier
    attempt's) is waited for, never doubled."""
    from jobs.execution import describe_error

    while True:
        job = Job.objects.get(pk=job_id)
        step = pending_step(job)
        if job.status != Job.Status.RUNNING or step is None or step.step != step_name:
            return False  # failed or finished meanwhile: the other shards stop here
        if attempt is not None and job.attempts != attempt:
            return False  # a task of an earlier attempt that had not started: its chord is gone
        run, _ = ShardRun.objects.get_or_create(job=job, step=step_name, shard=shard)
        if run.status == ShardRun.Status.SUCCEEDED:
            return True
        token = _claim(run)
        if token:
            break
        _pause(SHARD_WAIT_SECONDS)  # another run of this shard is under way: wait for its end
    run.refresh_from_db()
    mine = ShardRun.objects.filter(pk=run.pk, token=token)
    try:
        with _Heartbeat(run.pk, token):
            fn: ShardFunction = _lookup(_SHARD_FUNCTIONS, step_name)
            result = fn(job, step.shards[shard], step.context, _ShardProgress(job, run))
    except Exception as exc:
        log.exception("Shard %s of job %s (%s) failed", shard, job_id, step_name)
        error = describe_error(exc)
        mine.update(status=ShardRun.Status.FAILED, error=error, token="")
        _failed(job, step, f"Shard {shard + 1} of {len(step.shards)} ({step_name}) failed: {error}. "
                           "Retry the job to run the failed shard again.")
        if raise_errors:
            raise
        return False
    mine.update(status=ShardRun.Status.SUCCEEDED, result=result, done=max(run.total, run.done), token="")
    return True


def _pause(seconds: float) -> None:
    time.sleep(seconds)


def _claim(run: ShardRun) -> str:
    """Take the shard for this run: a fresh token when it was free (never claimed, ended,
    or its holder is dead), else "" (another run holds it). One conditional UPDATE, so of
    two runs claiming at once exactly one wins."""
    from jobs.execution import this_worker

    now = timezone.now()
    free = (~Q(status=ShardRun.Status.RUNNING) | Q(token="") | Q(heartbeat_at__isnull=True)
            | Q(heartbeat_at__lt=now - timedelta(seconds=SHARD_STALE_SECONDS)))
    if run.status == ShardRun.Status.RUNNING and run.token and _holder_died(run.worker):
        free |= Q(token=run.token)  # its process on this host is gone
    token = uuid.uuid4().hex
    claimed = ShardRun.objects.filter(Q(pk=run.pk) & free).exclude(status=ShardRun.Status.SUCCEEDED).update(
        status=ShardRun.Status.RUNNING, token=token, heartbeat_at=now, error="", worker=this_worker(),
        attempts=F("attempts") + 1)
    return token if claimed else ""


def _holder_died(worker: str) -> bool:
    """Whether ``host:pid`` names a process of this host that no longer runs."""
    from jobs.recovery import _alive

    host, _, pid = worker.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not _alive(int(pid))


class _Heartbeat:
    """While a shard runs on a Celery worker, a thread refreshes its claim's heartbeat
    (shard functions may report no progress for minutes). In-process, shards of one job
    never overlap; their progress refreshes the heartbeat."""

    def __init__(self, run_id: int, token: str) -> None:
        self.run_id, self.token = run_id, token
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        if settings.JOBS_BACKEND == "celery":
            self.thread = threading.Thread(target=self._beat, name=f"shard-heartbeat-{self.run_id}", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def _beat(self) -> None:
        from django.db import connection

        try:
            while not self.stop.wait(SHARD_HEARTBEAT_SECONDS):
                try:
                    ShardRun.objects.filter(pk=self.run_id, token=self.token).update(heartbeat_at=timezone.now())
                except Exception:
                    log.exception("Heartbeat of shard run %s failed", self.run_id)
        finally:
            connection.close()


def reduce(job_id: int) -> None:
    """Run the reducer of the job's current map step over every shard's result; finish the
    job with its result, or start the next map step it returns."""
    from jobs.execution import Progress, describe_error, finish_job

    job = Job.objects.get(pk=job_id)
    step = pending_step(job)
    if job.status != Job.Status.RUNNING or step is None:
        return
    runs = {r.shard: r for r in ShardRun.objects.filter(job=job, step=step.step)}
    missing = [i for i in range(len(step.shards)) if i not in runs or runs[i].status != ShardRun.Status.SUCCEEDED]
    if missing:
        _failed(job, step, f"Shards {[i + 1 for i in missing]} of {step.step} have no result. Retry the job.")
        return
    try:
        fn: Reducer = _lookup(_REDUCERS, step.reduce)
        outcome = fn(job, [runs[i].result for i in range(len(step.shards))], step.context, Progress(job))
    except Exception as exc:
        log.exception("Reduce %s of job %s failed", step.reduce, job_id)
        _failed(job, step, f"{step.reduce} failed: {describe_error(exc)}")
        return
    if isinstance(outcome, MapStep):
        start(job, outcome)
    else:
        finish_job(job, outcome)


def _failed(job: Job, step: MapStep, error: str) -> None:
    """Fail the job with ``error``, then run the step's failure hook, if any."""
    from jobs.execution import Progress, fail_job

    fail_job(job, error)
    if step.on_failure:
        try:
            _lookup(_REDUCERS, step.on_failure)(job, [], step.context, Progress(job))
        except Exception:
            log.exception("Failure hook %s of job %s failed", step.on_failure, job.pk)


class _ShardProgress:
    """A shard's progress on its row; the job's progress is the sum over its shards."""

    def __init__(self, job: Job, run: ShardRun) -> None:
        self.job, self.run, self.last = job, run, 0.0

    def __call__(self, done: int, total: int, message: str = "") -> None:
        from jobs.events import publish
        from jobs.execution import job_event

        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_SECONDS and done < total:
            return
        self.last = now
        self.run.done, self.run.total = max(done, 0), max(total, 0)
        ShardRun.objects.filter(pk=self.run.pk).update(done=self.run.done, total=self.run.total,
                                                       heartbeat_at=timezone.now())
        sums = ShardRun.objects.filter(job=self.job, step=self.run.step).aggregate(done=Sum("done"), total=Sum("total"))
        self.job.done, self.job.total = int(sums["done"] or 0), int(sums["total"] or 0)
        self.job.message = (message or self.job.message)[:500]
        Job.objects.filter(pk=self.job.pk).update(done=self.job.done, total=self.job.total, message=self.job.message)
        publish(self.job.project_id, "job.progress", job_event(self.job))
