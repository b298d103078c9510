"""Celery app for JOBS_BACKEND=celery: ``celery -A config worker`` on any machine sharing
the database and pool storage runs the same job functions as the in-process runner."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("agile_labeling")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["jobs"])


@worker_ready.connect
def _recover(**_: object) -> None:
    from jobs.recovery import recover_orphans

    recover_orphans()
