from __future__ import annotations

from django.db import models

from labeling.choices import PoolStatus
from labeling.models.projects import Project


class Pool(models.Model):
    """A set of images with one encoder and one embedding file."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pools")
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=1000, blank=True, help_text="Folder or zip the images came from.")
    encoder = models.CharField(max_length=300, default="offline", help_text="Encoder key the embeddings were made with.")
    embedding_path = models.CharField(max_length=1000, blank=True, help_text="Directory of the embedding store.")
    status = models.CharField(max_length=16, choices=PoolStatus.choices, default=PoolStatus.NEW)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="pool_unique_name")]

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    """One image of a pool. ``key`` is stable and is what the evaluation sampler hashes."""

    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="items")
    key = models.CharField(max_length=500)
    row = models.IntegerField(null=True, blank=True, help_text="Row in the pool's embedding store.")
    flagged_broken = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["pool", "key"], name="item_unique_key")]
        indexes = [models.Index(fields=["pool", "row"], name="item_pool_row")]

    def __str__(self) -> str:
        return self.key
