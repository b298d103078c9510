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
failed map step leaves nothing half-written. A reducer may return another MapStep (a
chain: score every shard, then select from every shard). Progress is the sum over shards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Sum

from jobs.models import Job, ShardRun
from jobs.registry import Reporter, load_modules

log = logging.getLogger(__name__)
STATE_KEY = "map_step"
PROGRESS_EVERY_SECONDS = 0.3


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
        chord(group(run_shard_task.s(job.pk, step.step, i) for i in todo))(reduce_shards_task.s(job.pk))
        return
    for i in todo:
        if not run_shard(job.pk, step.step, i, raise_errors=False):
            return
    reduce(job.pk)


def run_shard(job_id: int, step_name: str, shard: int, *, raise_errors: bool = True) -> bool:
    """Run one shard of the job's current map step; True when it succeeded. On failure
    the shard's row and the job are marked failed (and the error re-raised for Celery)."""
    from jobs.execution import describe_error, this_worker

    job = Job.objects.get(pk=job_id)
    step = pending_step(job)
    if job.status != Job.Status.RUNNING or step is None or step.step != step_name:
        return False  # failed or finished meanwhile: the other shards stop here
    run, _ = ShardRun.objects.get_or_create(job=job, step=step_name, shard=shard)
    if run.status == ShardRun.Status.SUCCEEDED:
        return True
    run.status, run.error, run.worker, run.attempts = ShardRun.Status.RUNNING, "", this_worker(), run.attempts + 1
    run.save(update_fields=["status", "error", "worker", "attempts", "updated_at"])
    try:
        fn: ShardFunction = _lookup(_SHARD_FUNCTIONS, step_name)
        result = fn(job, step.shards[shard], step.context, _ShardProgress(job, run))
    except Exception as exc:
        log.exception("Shard %s of job %s (%s) failed", shard, job_id, step_name)
        error = describe_error(exc)
        ShardRun.objects.filter(pk=run.pk).update(status=ShardRun.Status.FAILED, error=error)
        _failed(job, step, f"Shard {shard + 1} of {len(step.shards)} ({step_name}) failed: {error}. "
                           "Retry the job to run the failed shard again.")
        if raise_errors:
            raise
        return False
    ShardRun.objects.filter(pk=run.pk).update(status=ShardRun.Status.SUCCEEDED, result=result,
                                              done=max(run.total, run.done))
    return True


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
        ShardRun.objects.filter(pk=self.run.pk).update(done=self.run.done, total=self.run.total)
        sums = ShardRun.objects.filter(job=self.job, step=self.run.step).aggregate(done=Sum("done"), total=Sum("total"))
        self.job.done, self.job.total = int(sums["done"] or 0), int(sums["total"] or 0)
        self.job.message = (message or self.job.message)[:500]
        Job.objects.filter(pk=self.job.pk).update(done=self.job.done, total=self.job.total, message=self.job.message)
        publish(self.job.project_id, "job.progress", job_event(self.job))
