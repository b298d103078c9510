"""Celery entry points: the same job function, shard function and reducer as the
in-process runner (``jobs.execution``, ``jobs.mapreduce``)."""

from typing import Any

from config.celery import app
from jobs import mapreduce
from jobs.execution import run_job


@app.task(name="agile.run_job", acks_late=True, ignore_result=True)
def run_job_task(job_id: int) -> None:
    run_job(job_id)


@app.task(name="agile.run_shard", acks_late=True)
def run_shard_task(job_id: int, step: str, shard: int, attempt: int | None = None) -> bool:
    """One shard of a job's map step (a chord header task) of the job's attempt ``attempt``;
    raises when the shard fails, after marking it and its job failed, so the chord never
    runs its reduce."""
    return mapreduce.run_shard(job_id, step, shard, attempt)


@app.task(name="agile.reduce_shards", acks_late=True, ignore_result=True)
def reduce_shards_task(_shards: list[Any], job_id: int) -> None:
    """The chord body: the reducer over every shard's stored result."""
    mapreduce.reduce(job_id)
