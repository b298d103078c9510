"""Celery entry point: the same job function as the in-process runner."""

from config.celery import app
from jobs.execution import run_job


@app.task(name="agile.run_job", acks_late=True)
def run_job_task(job_id: int) -> None:
    run_job(job_id)
