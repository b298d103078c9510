from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import viewsets

from labeling import permissions
from modeling.models import Job, ModelVersion
from modeling.serializers import JobSerializer, ModelVersionSerializer


class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    queryset = ModelVersion.objects.all()
    serializer_class = ModelVersionSerializer

    def get_queryset(self) -> QuerySet[Any]:
        return permissions.visible("model_version", self.request.user, self.queryset.all())


class JobViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    queryset = Job.objects.all()
    serializer_class = JobSerializer

    def get_queryset(self) -> QuerySet[Any]:
        return permissions.visible("job", self.request.user, self.queryset.all())
