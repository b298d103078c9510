from __future__ import annotations

from django.conf import settings
from django.db import models

from labeling.models.pools import Item
from labeling.models.projects import Project


class Concept(models.Model):
    """A visual concept an expert has in mind, described by phrases.

    The name counts as a positive phrase (see ``all_positive_phrases``).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="concepts")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="concepts")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    positive_phrases = models.JSONField(default=list, blank=True)
    negative_phrases = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="concept_unique_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def all_positive_phrases(self) -> list[str]:
        phrases = [self.name, *self.positive_phrases]
        return list(dict.fromkeys(p for p in phrases if p))


class TaskTemplate(models.Model):
    """What a crowd worker sees: the question, a description and worked examples."""

    concept = models.ForeignKey(Concept, on_delete=models.CASCADE, related_name="templates")
    question = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.question


class TemplateExample(models.Model):
    """A positive or negative example with a note.

    ``is_test`` examples are shown to workers without their expected answer (they check
    understanding), so ``is_positive`` of a test example never reaches a worker.
    """

    template = models.ForeignKey(TaskTemplate, on_delete=models.CASCADE, related_name="examples")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    is_positive = models.BooleanField()
    note = models.TextField(blank=True)
    is_test = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]


class AssessmentSet(models.Model):
    """Items with expert labels, used to score workers. Never shown to workers with labels.

    Attached to a crowd batch (``Batch.assessment_set``) or to cohorts: a crowd batch of the
    concept sent to an attached cohort without a set of its own uses this one.
    """

    concept = models.ForeignKey(Concept, on_delete=models.CASCADE, related_name="assessment_sets")
    name = models.CharField(max_length=200)
    cohorts = models.ManyToManyField("labeling.Cohort", blank=True, related_name="assessment_sets")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class AssessmentItem(models.Model):
    assessment_set = models.ForeignKey(AssessmentSet, on_delete=models.CASCADE, related_name="items")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    expected = models.BooleanField(help_text="The expert's label: does the item show the concept?")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["assessment_set", "item"], name="assessment_item_unique"),
        ]
