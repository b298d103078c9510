from __future__ import annotations

from rest_framework import serializers

from modeling.models import ModelVersion


class ModelVersionSerializer(serializers.ModelSerializer[ModelVersion]):
    class Meta:
        model = ModelVersion
        fields = ["id", "concept", "number", "round", "source", "config", "label_count", "metrics", "created_at"]
        read_only_fields = fields
