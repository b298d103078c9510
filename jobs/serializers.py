from __future__ import annotations

from rest_framework import serializers

from jobs.models import Job


class JobSerializer(serializers.ModelSerializer[Job]):
    class Meta:
        model = Job
        fields = ["id", "project", "kind", "params", "status", "done", "total", "message", "result", "error",
                  "created_by", "created_at", "started_at", "finished_at"]
        read_only_fields = fields
