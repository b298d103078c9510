"""Django glue of the modeling side: trained model versions and long-running jobs."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from labeling.models import Concept, Pool, Project


class ModelVersion(models.Model):
    """A classifier trained for a concept, kept with the labels it was trained on."""

    class Source(models.TextChoices):
        EXPERT = "expert", "Expert labels"
        CROWD = "crowd", "Aggregated crowd labels"

    concept = models.ForeignKey(Concept, on_delete=models.CASCADE, related_name="model_versions")
    pool = models.ForeignKey(Pool, null=True, on_delete=models.SET_NULL, related_name="model_versions",
                             help_text="The pool it was trained on and scored.")
    number = models.PositiveIntegerField()
    round = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.EXPERT)
    config = models.JSONField(default=dict, blank=True, help_text="Trainer configuration.")
    file_path = models.CharField(max_length=1000, blank=True)
    label_count = models.PositiveIntegerField(default=0)
    training_labels = models.JSONField(default=list, blank=True, help_text="[[item_id, value], ...]")
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["concept_id", "number"]
        constraints = [models.UniqueConstraint(fields=["concept", "number"], name="model_version_unique")]

    def __str__(self) -> str:
        return f"{self.concept} v{self.number}"


class Job(models.Model):
    """Long work (embedding, indexing, training, scoring) run outside the request."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
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
