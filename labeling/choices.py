"""Enumerations shared by models, serializers and services."""

from django.db import models


class Role(models.TextChoices):
    EXPERT = "expert", "Expert"
    WORKER = "worker", "Worker"
    MANAGER = "manager", "Manager"


class AnswerValue(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    DONT_KNOW = "dont_know", "Don't know"
    BROKEN = "broken", "Broken image"


class BatchKind(models.TextChoices):
    EXPERT_RATING = "expert_rating", "Expert rating"
    CROWD = "crowd", "Crowd"
    ASSESSMENT = "assessment", "Assessment"
    EVALUATION = "evaluation", "Evaluation"


class BatchStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class AssignmentStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"


class LabelSource(models.TextChoices):
    EXPERT = "expert", "Expert"
    AGGREGATED = "aggregated", "Aggregated"


class PoolStatus(models.TextChoices):
    NEW = "new", "New"
    EMBEDDING = "embedding", "Embedding"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
