from __future__ import annotations

from django.conf import settings
from django.db import models

from labeling.choices import AnswerValue, AssignmentStatus, BatchKind, BatchStatus, LabelSource
from labeling.models.concepts import AssessmentSet, Concept, TaskTemplate
from labeling.models.pools import Item
from labeling.models.projects import Cohort


class Batch(models.Model):
    """A set of items put to people at once: an expert rating batch, crowd work, etc.

    Template, cohort and assessment set are RESTRICT, not PROTECT: they cannot be deleted
    while a batch uses them, but deleting the whole concept or project still cascades.
    """

    concept = models.ForeignKey(Concept, on_delete=models.CASCADE, related_name="batches")
    kind = models.CharField(max_length=20, choices=BatchKind.choices)
    round = models.PositiveIntegerField(default=0, help_text="Active-learning round (0 = expansion).")
    selection = models.CharField(max_length=50, default="manual", help_text="How the items were chosen.")
    selection_params = models.JSONField(default=dict, blank=True)
    template = models.ForeignKey(TaskTemplate, null=True, blank=True, on_delete=models.RESTRICT, related_name="batches")
    cohort = models.ForeignKey(Cohort, null=True, blank=True, on_delete=models.RESTRICT, related_name="batches")
    assessment_set = models.ForeignKey(
        AssessmentSet, null=True, blank=True, on_delete=models.RESTRICT, related_name="batches"
    )
    status = models.CharField(max_length=10, choices=BatchStatus.choices, default=BatchStatus.OPEN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "batches"


class Assignment(models.Model):
    """One item put to one person in a batch. Closed once answered."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    position = models.PositiveIntegerField(default=0, help_text="Order within the batch.")
    status = models.CharField(max_length=10, choices=AssignmentStatus.choices, default=AssignmentStatus.OPEN)
    expires_at = models.DateTimeField(
        null=True, blank=True,
        help_text="Crowd work is leased: an open assignment past this time no longer holds its item "
                  "(null: held until answered, as in expert batches).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["batch_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "item", "assignee"], name="assignment_unique"),
        ]
        indexes = [models.Index(fields=["assignee", "status"], name="assignment_todo"),
                   models.Index(fields=["batch", "status", "expires_at"], name="assignment_leases")]


class Answer(models.Model):
    """A person's answer to an assignment.

    ``client_id`` is chosen by the client and makes submission idempotent. An answer is
    never overwritten: an expert's undo marks it ``retracted_at`` and reopens the
    assignment, so history is kept and at most one live answer exists per assignment.
    """

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="answers")
    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="answers")
    value = models.CharField(max_length=10, choices=AnswerValue.choices)
    seconds = models.FloatField(null=True, blank=True, help_text="Time the person took, in seconds.")
    client_id = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)
    retracted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["worker", "client_id"], name="answer_unique_client_id"),
            models.UniqueConstraint(
                fields=["assignment"], condition=models.Q(retracted_at__isnull=True), name="answer_one_live"
            ),
        ]


class Label(models.Model):
    """What we believe about an item for a concept, from an expert or from aggregation.

    An aggregated label carries the posterior probability of "yes" and the number of
    answers it rests on; ``confidence`` is the posterior of the label's own value. The
    decision records of the aggregation app say which answers and accuracies made it.
    """

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="labels")
    concept = models.ForeignKey(Concept, on_delete=models.CASCADE, related_name="labels")
    value = models.BooleanField()
    confidence = models.FloatField(default=1.0)
    source = models.CharField(max_length=12, choices=LabelSource.choices)
    method = models.CharField(max_length=40, blank=True, help_text="Aggregation method, or 'expert'.")
    posterior_yes = models.FloatField(null=True, blank=True, help_text="P(yes) after aggregation.")
    n_answers = models.PositiveIntegerField(default=0, help_text="Crowd answers the label rests on.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "concept", "source"], name="label_unique_source"),
            models.CheckConstraint(condition=models.Q(confidence__gte=0) & models.Q(confidence__lte=1),
                                   name="label_confidence_0_1"),
        ]
