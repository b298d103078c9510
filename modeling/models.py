"""Django glue of the modeling side: trained model versions."""

from __future__ import annotations

from django.db import models

from labeling.models import Concept, Pool


class ModelVersion(models.Model):
    """A classifier trained for a concept, kept with the labels it was trained on."""

    class Source(models.TextChoices):
        EXPERT = "expert", "Expert labels"
        CROWD = "crowd", "Aggregated crowd labels"
        BOTH = "both", "Expert and crowd labels (the expert's where both exist)"

    concept = models.ForeignKey(Concept, on_delete=models.CASCADE, related_name="model_versions")
    pool = models.ForeignKey(Pool, null=True, on_delete=models.SET_NULL, related_name="model_versions",
                             help_text="The pool it was trained on and scored.")
    number = models.PositiveIntegerField()
    round = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.EXPERT)
    config = models.JSONField(default=dict, blank=True, help_text="Trainer configuration.")
    file_path = models.CharField(max_length=1000, blank=True)
    label_count = models.PositiveIntegerField(default=0)
    training_labels = models.JSONField(default=list, blank=True,
                                       help_text='[[item_id, target, "expert" | "crowd"], ...]')
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["concept_id", "number"]
        constraints = [models.UniqueConstraint(fields=["concept", "number"], name="model_version_unique")]

    def __str__(self) -> str:
        return f"{self.concept} v{self.number}"
