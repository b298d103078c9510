from __future__ import annotations

from django.conf import settings
from django.db import models

from labeling.choices import Role


class Project(models.Model):
    """The scope of everything: members, concepts, pools and their labels."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A person's role in a project; a person may hold several roles."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user", "role"], name="membership_unique_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} in {self.project}"


class Cohort(models.Model):
    """A group of workers, scored together on assessment sets."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cohorts")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    workers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="cohorts", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="cohort_unique_name")]

    def __str__(self) -> str:
        return self.name
