"""The API of "What does the model need?": start a GenMQD job, read the latest descriptions."""

from __future__ import annotations

import math
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs import services as jobs
from jobs.serializers import JobSerializer
from labeling import permissions
from labeling.choices import PoolStatus
from labeling.errors import Conflict
from labeling.inputs import query_int
from labeling.models import Concept, Pool
from modeling import genmqd, storage
from modeling.studio_views import PoolInput, _ready_pool


class NeedsInput(PoolInput):
    per_class = serializers.IntegerField(min_value=1, max_value=100, default=10,
                                         help_text="Images gathered per description (yes and no).")
    steps = serializers.IntegerField(min_value=0, max_value=2000, default=200, help_text="Synthesis steps T.")
    alpha = serializers.FloatField(min_value=1e-12, max_value=10.0, default=1e-4,
                                   help_text="Step size (in units of the features' norm).")
    seed = serializers.IntegerField(default=0, min_value=0, max_value=2**32 - 1,
                                    help_text="Seeds the split of labels into L and V.")

    def validate_alpha(self, value: float) -> float:
        if not math.isfinite(value):  # NaN passes min/max comparisons
            raise serializers.ValidationError("Must be a finite number.")
        return value


def _concept(request: Request, pk: int) -> Concept:
    return get_object_or_404(permissions.visible("concept", request.user, Concept.objects.all()), pk=pk)


class WhatModelNeedsView(APIView):
    """POST: a job that describes, per class, the example the model most needs, and gathers
    the pool images matching each description into a rating batch (selection ``genmqd``).
    GET: the newest such descriptions (``?pool=`` narrows)."""

    @extend_schema(request=NeedsInput, responses={202: JobSerializer},
                   summary="What does the model need? Describe and gather one query per class")
    def post(self, request: Request, pk: int) -> Response:
        concept = _concept(request, pk)
        permissions.require_write("concept", request.user, concept.project, concept)
        data = NeedsInput(data=request.data)
        data.is_valid(raise_exception=True)
        pool = _ready_pool(data.validated_data["pool"], concept)
        storage.one_store_only(pool, "GenMQD (what the model needs)")
        missing = genmqd.missing_labels(concept, pool)
        if missing:
            raise Conflict(missing)
        params = {**data.validated_data, "concept": concept.pk, "pool": pool.pk}
        created = jobs.enqueue(concept.project, "genmqd", params, request.user)
        return Response(JobSerializer(created).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: dict}, summary="The newest descriptions of what the model needs")
    def get(self, request: Request, pk: int) -> Response:
        concept = _concept(request, pk)
        pool_id = query_int(request, "pool")
        pool = None
        if pool_id is not None:
            pool = Pool.objects.filter(pk=pool_id, project_id=concept.project_id, status=PoolStatus.READY).first()
        found = genmqd.latest(concept, pool) if pool is not None or pool_id is None else None
        body: dict[str, Any] = found or {"batch": None, "size": 0, "descriptions": []}
        return Response(body)
