from __future__ import annotations

from rest_framework import serializers

from modeling.models import Job, ModelVersion


class ModelVersionSerializer(serializers.ModelSerializer[ModelVersion]):
    class Meta:
        model = ModelVersion
        fields = ["id", "concept", "number", "round", "source", "config", "label_count", "metrics", "created_at"]
        read_only_fields = fields


class JobSerializer(serializers.ModelSerializer[Job]):
    class Meta:
        model = Job
        fields = ["id", "project", "kind", "params", "status", "done", "total", "message", "result", "error",
                  "created_at", "started_at", "finished_at"]
        read_only_fields = fields
