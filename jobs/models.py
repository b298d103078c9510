"""The Job row: long work (embedding, indexing, training, scoring, aggregation) run
outside the request, with its progress, result and error."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    # By label, not by import: the job framework sits below the labeling app.
    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=50)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveBigIntegerField(default=0)
    total = models.PositiveBigIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the process running it.")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status"], name="job_status")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"


class ShardRun(models.Model):
    """One shard of a job's map step: its result once it succeeded, its error if it failed.

    A job whose map step failed keeps the rows of the shards that succeeded; its retry
    runs only the others (a failed shard is retried alone), then the reduce. A shard still
    running from an earlier attempt is never run a second time beside it: the retry's task
    for that shard waits for it (``token``, ``heartbeat_at``).
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="shard_runs")
    step = models.CharField(max_length=80)
    shard = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    done = models.PositiveBigIntegerField(default=0)
    total = models.PositiveBigIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    #: Who runs the shard now (a fresh token per run) and when it last said it is alive:
    #: another run of the same shard waits while the heartbeat is fresh (jobs.mapreduce).
    token = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job", "step", "shard"]
        constraints = [models.UniqueConstraint(fields=["job", "step", "shard"], name="shard_run_unique")]

    def __str__(self) -> str:
        return f"{self.step} shard {self.shard} of job {self.job_id} ({self.status})"
